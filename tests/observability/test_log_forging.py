"""A logged field cannot forge a log line: control characters are escaped in the text format and the JSON one.

The attack: `GET /api/v1/x%0Adaphne | … INFO … POST /admin/login/ 302`. The
path is logged decoded (request.path), so with LOG_FORMAT=text the newline
ended the access line and what followed it read as a record of its own.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Callable, Iterator
from urllib.parse import quote

import pytest
import requests

from escalation_project import request_id
from escalation_project.logs import escape_controls
from tests.live_server import running_daphne
from tests.observability.conftest import configured_formatter

FORGED = "daphne | 2026-12-03 09:00:00,000 INFO escalation_project.access [x] POST /admin/login/ 302"
FORGING_PATH = "/api/v1/x\n" + FORGED
# A text record starts with its time; anything else on a line of its own is a continuation.
RECORD_START = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ ")
ACCESS = re.compile(RECORD_START.pattern + r"escalation_project\.access ")
# Each must be escaped, never written as is.
UNSAFE = ["\n", "\r", "\x1b[31m", "\x00", "\t", "\x7f", "\x85", "\x9b", "\u2028", "\u2029", "\u202e"]


@pytest.fixture
def text_log() -> Iterator[Callable[[], str]]:
    """The root logger also writes through the text formatter of settings.LOGGING; returns the output."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(configured_formatter("text"))
    handler.addFilter(request_id.RequestIdFilter())
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream.getvalue
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)


def access_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if ACCESS.match(line)]


def test_a_forged_path_stays_on_its_access_line_in_the_text_format(client, db, text_log):
    response = client.get(quote(FORGING_PATH))

    assert response.status_code in (401, 404)
    output = text_log()
    assert all(RECORD_START.match(line) for line in output.splitlines()), output
    (line,) = access_lines(output)
    assert line.endswith(f"GET /api/v1/x\\n{FORGED} {response.status_code}")


def test_the_json_format_keeps_a_forged_path_inside_its_string(client, db, json_log):
    response = client.get(quote(FORGING_PATH))

    (line,) = [line for line in json_log() if line["logger"] == "escalation_project.access"]
    assert line["path"] == FORGING_PATH
    assert line["message"] == f"GET {FORGING_PATH} {response.status_code}"


@pytest.mark.parametrize("character", UNSAFE)
def test_every_field_of_the_text_format_is_escaped(text_log, character):
    with request_id.bound("req-1"):
        logging.getLogger(f"tests.{character}").warning("Console socket opened by %s%s", "eve", character)

    output = text_log()
    assert output.endswith("\n")  # the handler's terminator, the only newline
    assert character not in output.removesuffix("\n")
    assert output.splitlines()[0].endswith(f"Console socket opened by eve{escape_controls(character)}")
    assert f"tests.{escape_controls(character)}" in output


def test_escapes_read_as_python_writes_them():
    assert escape_controls("a\nb\rc\td\x1be\x00f\x85g\u2028h\u202ei") == (
        "a\\nb\\rc\\td\\x1be\\x00f\\x85g\\u2028h\\u202ei"
    )
    assert escape_controls("plain text, ünïcode, emoji 🙂, quotes \" '") == (
        "plain text, ünïcode, emoji 🙂, quotes \" '"
    )


def test_a_traceback_cannot_pass_for_a_record_in_the_text_format(text_log):
    try:
        raise ValueError("bad name\n" + FORGED.removeprefix("daphne | ") + "\x1b[2J")
    except ValueError:
        logging.getLogger("tests").exception("It failed")

    first, *rest = text_log().splitlines()
    assert RECORD_START.match(first) and first.endswith("It failed")
    assert rest[0] == "    Traceback (most recent call last):"
    assert rest[-2] == "    ValueError: bad name"
    assert rest[-1] == "    " + FORGED.removeprefix("daphne | ") + "\\x1b[2J"
    assert all(line.startswith("    ") for line in rest)


@pytest.mark.parametrize("character", UNSAFE)
def test_the_json_format_writes_one_line_with_every_control_escaped(character):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(configured_formatter("json"))
    logger = logging.getLogger("tests.json")
    logger.addHandler(handler)
    try:
        logger.warning("opened by %s", f"eve{character}", extra={"path": f"/x{character}"})
    finally:
        logger.removeHandler(handler)

    raw = stream.getvalue()
    assert raw.endswith("}\n")  # the handler's terminator, the only newline
    assert character not in raw.removesuffix("\n")
    assert len(raw.splitlines()) == 1
    line = json.loads(raw)
    assert (line["message"], line["path"]) == (f"opened by eve{character}", f"/x{character}")


@pytest.mark.slow
def test_daphnes_text_log_has_no_forged_line(transactional_db, tmp_path):
    with running_daphne(tmp_path, LOG_FORMAT="text") as base:
        # Sent as the attacker did: the newline percent-encoded in the request line.
        response = requests.get(base + quote(FORGING_PATH), timeout=10)
    log = (tmp_path / "daphne.log").read_text()

    assert response.status_code in (401, 404)
    assert not [line for line in log.splitlines() if FORGED in line and not RECORD_START.match(line)]
    (line,) = [line for line in access_lines(log) if "/api/v1/x" in line]
    assert RECORD_START.match(line)
    assert line.endswith(f"GET /api/v1/x\\n{FORGED} {response.status_code}")
