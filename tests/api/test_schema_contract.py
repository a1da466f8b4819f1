"""The schema states what the API refuses (escalation_project.api.openapi), so a client that
generates requests from it, as schemathesis does, sends nothing the API then turns down."""

from __future__ import annotations

import re

import pytest
from rest_framework.test import APIClient

from escalation_project.api.openapi import CURSOR_PATTERN, NO_NUL, NOT_BLANK
from escalation_project.api.strict_fields import HTTP_URL


@pytest.fixture(scope="module")
def schema() -> dict:
    return APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()


def _component(schema: dict, name: str) -> dict:
    return schema["components"]["schemas"][name]


def _ecma(pattern: str) -> re.Pattern:
    return re.compile(pattern.replace(r"\u0000", r"\x00"))


def test_request_text_may_not_hold_nul_or_be_blank(schema):
    properties = _component(schema, "MessageCreateRequest")["properties"]
    assert properties["content"]["pattern"] == NO_NUL  # trim_whitespace=False: spaces are content
    reason = _component(schema, "EscalateRequest")["properties"]["reason"]
    assert reason["pattern"] == NOT_BLANK
    assert _ecma(NOT_BLANK).fullmatch(" a ")
    assert not _ecma(NOT_BLANK).fullmatch("  ")
    assert not _ecma(NOT_BLANK).fullmatch("a\x00")


def test_a_webhook_url_is_http_in_rfc_3986_characters(schema):
    url = _component(schema, "EndpointRequest")["properties"]["url"]
    assert url["format"] == "uri"
    assert url["pattern"] == HTTP_URL
    assert not re.fullmatch(HTTP_URL, 'http://x/"><script>')


def test_escalate_takes_exactly_one_of_conversation_and_conversation_id(schema):
    escalate = _component(schema, "EscalateRequest")
    assert escalate["oneOf"] == [{"required": ["conversation"]}, {"required": ["conversation_id"]}]


def test_an_agents_team_and_slug_may_not_be_sent_in_a_patch(schema):
    properties = _component(schema, "PatchedAgentUpdateRequest")["properties"]
    assert properties["team"] == {"not": {}}
    assert properties["slug"] == {"not": {}}


def test_evaluate_needs_one_to_500_messages(schema):
    messages = _component(schema, "EvaluateRequest")["properties"]["messages"]
    assert (messages["minItems"], messages["maxItems"]) == (1, 500)


def test_the_cursor_states_its_alphabet(schema):
    parameters = schema["paths"]["/api/v1/escalations/"]["get"]["parameters"]
    cursor = next(p for p in parameters if p["name"] == "cursor")
    assert cursor["schema"]["pattern"] == CURSOR_PATTERN
