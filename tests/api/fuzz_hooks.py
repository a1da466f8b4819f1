"""Schemathesis hooks shared by the in-process fuzzing (tests/api/test_schema_fuzz.py) and a manual
`st run` against a server (`SCHEMATHESIS_HOOKS=tests.api.fuzz_hooks`, see docs/integrators/api-contract.md).

The schema states every rule about a request's shape; what it cannot state is what depends on
stored rows or on a grammar of our own: a team where the caller is a contributor, a topic among the
team's labels, a label name not yet taken, a username, a rule's parameters for its kind, a reason
template's placeholders, a webhook URL whose host resolves. So that "valid data is accepted"
(positive_data_acceptance) can be checked on every operation, these hooks put real values into the
valid (positive) cases: ids of real objects, names that exist, parameters of the rule's kind. A
request that is invalid on purpose (a negative case) is sent as generated and must be refused.

WORLD holds the real values: filled by the test's fixture in process, or for `st run` from the JSON
file named by FUZZ_WORLD (tests/api/fuzz_world.py).
"""

from __future__ import annotations

import itertools
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

import django
import schemathesis
from django.apps import apps

if not apps.ready:  # loaded by `st run` (SCHEMATHESIS_HOOKS), outside Django
    django.setup()

from agents.rule_parameters import EXAMPLES  # noqa: E402
from escalation_project.api.strict_fields import HTTP_URL  # noqa: E402


@dataclass
class World:
    agent_key: str = ""
    user_token: str = ""
    ids: dict[str, int] = field(default_factory=dict)
    username: str = ""  # a member of the team, for the ladder's notify_users
    topic: str = ""  # the team's topic label
    area: str = ""  # and its area label


WORLD = World()
if os.environ.get("FUZZ_WORLD"):
    WORLD = World(**json.loads(open(os.environ["FUZZ_WORLD"]).read()))

# Names that must be new each time (a label's name, an agent's slug): the same generated value is
# sent again and again (shrinking, the coverage phase), and a taken name is rightly refused.
_fresh = itertools.count(1)
# A valid ?wait= (a long-poll on an open escalation waits that long) becomes 1 s in process, so one
# example does not take a minute; `st run` keeps the waits, with a request timeout above them.
SHORT_WAITS = not os.environ.get("FUZZ_WORLD")


def _real_ids(path: str) -> dict[str, int]:
    names = re.findall(r"{(\w+)}", path)
    # /escalations/{id}/ and /conversations/{id}/ both call their id "id".
    key = {"id": "conversation_id" if path.startswith("/api/v1/conversations/") else "escalation_id"}
    return {name: WORLD.ids[key.get(name, name)] for name in names if key.get(name, name) in WORLD.ids}


def _positive(case) -> bool:
    # Negative cases (invalid on purpose) are sent as generated: the API must refuse them.
    return case.meta is not None and case.meta.generation.mode.is_positive


@schemathesis.hook
def filter_case(context, case) -> bool:
    # A cursor is opaque: the schema states its alphabet, and one outside it must be refused (a
    # negative case, kept), but only one the API handed out (a `next` link) is valid, so a made-up
    # one is refused too. tests/api/test_pagination.py covers those.
    if _positive(case) and case.query and "cursor" in case.query:
        return False
    return True


@schemathesis.hook
def map_case(context, case):
    """Valid cases get real ids in their path and real values where validity depends on rows."""
    if not _positive(case) or not WORLD.ids:
        return case  # (schemathesis' pytest plugin makes some cases when it collects, before the world)
    real = _real_ids(case.operation.path)
    if case.path_parameters:
        case.path_parameters = {
            name: real.get(name, value) if _is_id(value) else value
            for name, value in case.path_parameters.items()
        }
    if case.query and SHORT_WAITS and _is_id(case.query.get("wait")) and case.query["wait"] > 1:
        case.query = {**case.query, "wait": 1}
    key = (case.headers or {}).get("Idempotency-Key")
    if _is_text(key, 180) and key.strip():
        # An Idempotency-Key stands for one request: the same generated key sent again with another
        # body is rightly a 422. tests/api/test_idempotency.py covers reuse.
        case.headers = {**case.headers, "Idempotency-Key": f"{key.strip()}-{next(_fresh)}"}
    if isinstance(case.body, dict):
        case.body = _real_body(case.operation.method.upper(), case.operation.path, case.body)
    return case


def _is_text(value: Any, max_length: int = 100) -> bool:
    return isinstance(value, str) and len(value) <= max_length


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _agent(body: dict[str, Any]) -> None:
    if _is_id(body.get("team")):
        body["team"] = WORLD.ids["team_id"]
    if _is_id(body.get("default_assignee")):
        body["default_assignee"] = WORLD.ids["user_id"]
    elif isinstance(body.get("default_assignee"), str):  # a username: the team's member
        body["default_assignee"] = WORLD.username
    if _is_text(body.get("slug")) and re.fullmatch(r"[-a-zA-Z0-9_]+", body["slug"]):
        body["slug"] = f"{body['slug'][:90]}-{next(_fresh)}"
    # Agent.clean()'s rules between fields, which the schema leaves to its description: no default
    # assignee with an assignment policy, and the "answer" policy needs the guidance to answer with.
    if body.get("assignment") and body.get("default_assignee") is not None:
        body["default_assignee"] = None
    elif body.get("default_assignee") is not None:
        # A PATCH that names an assignee without the policy meets the stored one, which an earlier
        # case may have set: leave the policy empty ("the default assignee") in the same body.
        body["assignment"] = ""
    if body.get("timeout_policy") == "answer" and not str(body.get("timeout_guidance", "")).strip():
        body["timeout_guidance"] = "Go ahead with the standard answer."


def _rule(body: dict[str, Any], method: str) -> None:
    kind = body.get("kind") if body.get("kind") in EXAMPLES else "phrases"
    if method == "POST" or "kind" in body or "parameters" in body:
        body["parameters"] = json.loads(json.dumps(EXAMPLES[kind]))
    if kind == "policy":
        body["enabled"] = False  # enabled only where a judge is configured, and the tests have none
    if "exception_phrases" in body:
        body["exception_phrases"] = ["refund policy"]
    if _is_text(body.get("reason_template"), 300) and body["reason_template"].strip():
        body["reason_template"] = "Needs a human"


def _ladder(body: dict[str, Any]) -> None:
    levels = body.get("levels")
    for index, level in enumerate(levels if isinstance(levels, list) else []):
        if not isinstance(level, dict):
            continue
        if isinstance(level.get("notify_users"), list) and all(
            _is_text(u, 150) for u in level["notify_users"]
        ):
            level["notify_users"] = [WORLD.username] if level["notify_users"] else []
        if _is_id(level.get("notify_team")):
            level["notify_team"] = WORLD.ids["other_team_id"]
        if index > 0 and level.get("after_minutes") == 0:
            level["after_minutes"] = 1  # later levels wait at least a minute


def _endpoint(body: dict[str, Any]) -> None:
    if _is_id(body.get("team")):
        body["team"] = WORLD.ids["team_id"]
    url = body.get("url")
    if _is_text(url, 2000) and re.fullmatch(HTTP_URL, url):
        # Any host the schema allows, but one that resolves: the discard port of this machine.
        body["url"] = re.sub(r"^https?://[^/?#]*", "http://127.0.0.1:9", url)[:2000]


def _real_body(method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    body = json.loads(json.dumps(body))  # a copy: the generated value may be reused
    if path in ("/api/v1/agents/", "/api/v1/agents/{agent_id}/"):
        _agent(body)
    if "/rules/" in path:
        _rule(body, method)
    if "/rule-tests/" in path and _is_id(body.get("expected_rule")):
        # A rule of the agent in the path; null (none expected) is always one, whichever agent a
        # stateful run reached and whichever rules it deleted on the way.
        body["expected_rule"] = None
    if path.endswith("/labels/") and _is_text(body.get("name")) and body["name"].strip():
        body["name"] = f"{body['name'][:90]} {next(_fresh)}"
    if path.endswith("/ladder/"):
        _ladder(body)
    if path.startswith("/api/v1/webhook-endpoints/"):
        _endpoint(body)
    for names, label in [(("topic", "default_topic"), WORLD.topic), (("area", "default_area"), WORLD.area)]:
        for name in names:
            if _is_text(body.get(name)) and body[name]:
                body[name] = label
    if _is_id(body.get("conversation_id")):
        body["conversation_id"] = WORLD.ids["conversation_id"]
    return body
