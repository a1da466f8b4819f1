"""The LOGGING dictionary of every process (daphne/Django, Celery worker, Celery beat).

LOG_FORMAT=json (the default): one JSON object per line with time (UTC,
ISO 8601), level, logger, message, request_id and the record's extra fields
(task_id and task_name inside a Celery task) — what a log collector parses
without rules. LOG_FORMAT=text: one readable line, for `make run`.

The JSON line is built here from a dict and json.dumps (the C encoder): every
request writes one, at INFO in production. python-json-logger's formatter walks
its field list and the record's attributes for each record; ours costs ~12% less
per line (44 against 50 µs of CPU with the logger call and the filter, which are
most of it; bench/serve_hops.py prints both).
Values json cannot encode (a datetime, an exception, an object) are written as
python-json-logger's encoder writes them.

A logged field may carry what a client sent (a path, a user agent, a
username), so neither format lets it start a new line or drive the terminal:
the text format escapes control characters in the whole line (`\n`, `\x1b`),
and indents a traceback's lines so that none of them can pass for a record;
the JSON encoder escapes C0 controls, and we escape the few it leaves raw.
"""

from __future__ import annotations

import copy
import datetime
import json
import logging
import re
from typing import Any

from pythonjsonlogger.json import JsonEncoder

FORMATS = ("json", "text")

# What could end a line or act on a terminal: C0 controls, DEL, C1 controls (U+0085 ends a
# line for str.splitlines and some collectors, U+009B starts a terminal escape), the
# Unicode line and paragraph separators, and the bidi controls that reorder what a
# reader sees (Trojan Source).
_UNSAFE_RANGES = [(0x00, 0x1F), (0x7F, 0x9F), (0x2028, 0x2029), (0x202A, 0x202E), (0x2066, 0x2069)]
_UNSAFE = [code for first, last in _UNSAFE_RANGES for code in range(first, last + 1)]
# Searched first: most lines have nothing to escape, and a search costs a tenth of a translate.
_ANY_UNSAFE = re.compile(
    "[" + "".join(f"{re.escape(chr(first))}-{re.escape(chr(last))}" for first, last in _UNSAFE_RANGES) + "]"
)
_SHORT = {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"}
_TEXT_ESCAPES = {
    code: _SHORT.get(code) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}") for code in _UNSAFE
}
# In a JSON string every one of them may be written \uXXXX; json.dumps already did so below U+0020.
_JSON_ESCAPES = {code: f"\\u{code:04x}" for code in _UNSAFE if code >= 0x20}


def escape_controls(text: str) -> str:
    """text on one line, each unsafe character written as Python would in a literal (`\\n`, `\\x1b`)."""
    return text.translate(_TEXT_ESCAPES) if _ANY_UNSAFE.search(text) else text


class TextFormatter(logging.Formatter):
    """The text format's line, whatever its fields hold, is one line."""

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info and record.exc_text:
            # logging.Formatter.format would reuse the traceback another handler's
            # formatter (pytest's, an error tracker's) cached on the record, unescaped.
            record = copy.copy(record)
            record.exc_text = None
        return super().format(record)

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        # The whole line at once: every field (message, its arguments, logger name, request
        # id, any field a format adds later) is escaped here, not at each call site.
        return escape_controls(super().formatMessage(record))

    def formatException(self, ei) -> str:  # noqa: N802
        return _continuation(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:  # noqa: N802
        return _continuation(super().formatStack(stack_info))


def _continuation(text: str) -> str:
    """A traceback stays readable, line by line, but every line is indented and escaped:
    an exception's message may hold a newline and text a client chose, and what follows
    it must not start at the margin, where a record begins with its time."""
    return "\n".join("    " + escape_controls(line) for line in text.split("\n"))


# A LogRecord's own attributes; any other attribute is a field the call passed in `extra`
# (or a filter added), written after the fixed ones.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",  # Python 3.12
    "request_id",  # a fixed field, always written
}
_encode_other = JsonEncoder().default


class JsonLineFormatter(logging.Formatter):
    """One JSON object per record: level, logger, message, request_id, the extra fields, time."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        for name, value in record.__dict__.items():
            if name not in _RECORD_ATTRIBUTES:
                line[name] = value
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exc_info"] = record.exc_text
        if record.stack_info:
            line["stack_info"] = self.formatStack(record.stack_info)
        line["time"] = datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat()
        # Non-ASCII text as is (one line still: the encoder escapes newlines).
        text = json.dumps(line, ensure_ascii=False, default=_encode_other)
        # Outside strings, JSON text is ASCII: these characters can only be inside one.
        return text.translate(_JSON_ESCAPES) if _ANY_UNSAFE.search(text) else text


# Celery's routine chatter: beat sends a sweep every few seconds and, at INFO, Celery logs
# three lines for each ("Sending due task", "received", "succeeded"). Failures are still
# logged (ERROR), and so is what our own tasks log about the work they did.
ROUTINE_LOGGERS = ("celery.beat", "celery.worker.strategy", "celery.app.trace")


def logging_config(*, log_format: str, level: str) -> dict[str, Any]:
    formatters = {
        "json": {"()": "escalation_project.logs.JsonLineFormatter"},
        "text": {
            "class": "escalation_project.logs.TextFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
        },
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "escalation_project.request_id.RequestIdFilter"}},
        "formatters": {log_format: formatters[log_format]},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": log_format,
                "filters": ["request_id"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.channels.server": {"level": "WARNING"},
            **{name: {"level": "WARNING"} for name in ROUTINE_LOGGERS},
        },
    }
