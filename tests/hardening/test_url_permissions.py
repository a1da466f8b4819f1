"""Every URL pattern, walked as an anonymous user, a supervisor of another team and a contributor
of another team (staff, so the admin lets them in), with the path filled with the ids of a team's
real objects. None of them may read or change that team's data, and no view accepts a POST
without a CSRF token.

A pattern nobody classified below fails the test: a new view cannot skip this review. The
websocket consumer has its own tests of refusing anonymous and foreign-origin sockets and of
keeping other teams' events away: tests/supervisors/test_console_socket.py
(test_an_anonymous_socket_is_refused, test_a_foreign_origin_is_refused_even_with_a_valid_session,
test_another_teams_events_never_reach_the_socket_live_or_by_replay).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from agents.keys import agent_key_create
from agents.models import Agent, AgentApiKey, Conversation, EscalationRule, Label, RuleTestCase
from escalations.models import BusinessHours, Escalation, Event, Status, UrgencyTarget
from supervisors.models import Membership, Role, Team, UserToken
from supervisors.tokens import user_token_create
from tests import factories
from webhooks import services as webhook_services
from webhooks.models import Delivery, Endpoint

# Every object of the walked team carries this word; no outsider's page may show it.
MARK = "zebra"

# --- How each URL is expected to behave ----------------------------------------------------
PUBLIC = "public"  # anyone may GET it; it shows no team's data
PUBLIC_REDIRECT = "public redirect"  # anyone: a permanent redirect to a public page or file
PAGE = "page"  # console page: login required; shows only the viewer's teams
OBJECT_PAGE = "object page"  # console page about one object: an outsider gets 404
ACTION = "action"  # console state change on one object: POST only, CSRF, an outsider gets 404
POST_ONLY = "post only"  # console state change of the user's own (on duty, log out): POST only, CSRF
API = "api"  # DRF: 401 without credentials; an outsider sees none of the team's data
API_OBJECT = "api object"  # DRF, about one object of the team: an outsider gets 403/404 (405 for GET)
# For the operator's scraper: METRICS_TOKEN's bearer, or else METRICS_ALLOWED_NETWORKS (loopback
# by default); nobody else, signed in or not. It counts, it names no team's escalations.
OPERATOR = "operator"
OUTSIDE_ADDRESS = "203.0.113.9"  # TEST-NET-3: not loopback, not a private network

# name (or, unnamed, the route) -> (kind, {path parameter: the world's object whose id fills it})
URLS: dict[str, tuple[str, dict[str, str]]] = {
    "home": (PUBLIC, {}),
    "healthz": (PUBLIC, {}),
    "readyz": (PUBLIC, {}),
    "metrics": (OPERATOR, {}),
    "schema": (PUBLIC, {}),
    "api-docs": (PUBLIC, {}),
    "api-redoc": (PUBLIC_REDIRECT, {}),
    "favicon": (PUBLIC_REDIRECT, {}),
    "console:login": (PUBLIC, {}),
    "console:logout": (POST_ONLY, {}),
    "console:on_duty": (POST_ONLY, {}),
    "console:queue": (PAGE, {}),
    "console:history": (PAGE, {}),
    "console:insights": (PAGE, {}),
    "console:suggestions": (PAGE, {}),
    "console:audit": (PAGE, {}),
    "console:detail": (OBJECT_PAGE, {"escalation_id": "escalation"}),
    "console:claim": (ACTION, {"escalation_id": "escalation"}),
    "console:release": (ACTION, {"escalation_id": "escalation"}),
    "console:extend": (ACTION, {"escalation_id": "escalation"}),
    "console:respond": (ACTION, {"escalation_id": "escalation"}),
    "console:dismiss": (ACTION, {"escalation_id": "escalation"}),
    "console:feedback": (ACTION, {"escalation_id": "escalation"}),
    "console:rules": (PAGE, {}),
    "console:rule": (OBJECT_PAGE, {"rule_id": "rule"}),
    "console:rule_accept": (ACTION, {"rule_id": "rule"}),
    "console:rule_dismiss": (ACTION, {"rule_id": "rule"}),
    "api:escalations": (API, {}),
    "api:events": (API, {}),
    "api:conversations": (API, {}),
    "api:escalation": (API_OBJECT, {"pk": "escalation"}),
    "api:claim": (API_OBJECT, {"pk": "escalation"}),
    "api:release": (API_OBJECT, {"pk": "escalation"}),
    "api:extend": (API_OBJECT, {"pk": "escalation"}),
    "api:respond": (API_OBJECT, {"pk": "escalation"}),
    "api:dismiss": (API_OBJECT, {"pk": "escalation"}),
    "api:feedback": (API_OBJECT, {"pk": "escalation"}),
    "api:withdraw": (API_OBJECT, {"pk": "escalation"}),
    "api:urgency": (API_OBJECT, {"pk": "escalation"}),
    "api:conversation": (API_OBJECT, {"pk": "conversation"}),
    "api:messages": (API_OBJECT, {"pk": "conversation"}),
    "api:team-targets": (API_OBJECT, {"team_id": "team"}),
    "api:team-target": (API_OBJECT, {"team_id": "team", "urgency": "urgency"}),
    "api:team-ladder": (API_OBJECT, {"team_id": "team"}),
    "config:agents": (API, {}),
    "config:teams": (API, {}),
    "config:agent": (API_OBJECT, {"agent_id": "agent"}),
    "config:evaluate": (API_OBJECT, {"agent_id": "agent"}),
    "config:rules": (API_OBJECT, {"agent_id": "agent"}),
    "config:rule": (API_OBJECT, {"agent_id": "agent", "rule_id": "rule"}),
    "config:rule-tests": (API_OBJECT, {"agent_id": "agent"}),
    "config:rule-tests-run": (API_OBJECT, {"agent_id": "agent"}),
    "config:rule-test": (API_OBJECT, {"agent_id": "agent", "test_id": "rule_test"}),
    "config:labels": (API_OBJECT, {"team_id": "team"}),
    "config:label": (API_OBJECT, {"team_id": "team", "label_id": "label"}),
    "webhooks:endpoints": (API, {}),
    "webhooks:endpoint": (API_OBJECT, {"endpoint_id": "endpoint"}),
    "webhooks:rotate-secret": (API_OBJECT, {"endpoint_id": "endpoint"}),
    "webhooks:replay-failed": (API_OBJECT, {"endpoint_id": "endpoint"}),
    "webhooks:deliveries": (API_OBJECT, {"endpoint_id": "endpoint"}),
    "webhooks:redeliver": (API_OBJECT, {"endpoint_id": "endpoint", "delivery_id": "delivery"}),
}

# The admin: staff only (others are sent to its login). Its site-wide pages ...
ADMIN_SITE = "admin site"  # index, app lists, jsi18n ...: staff only, nothing of another team
ADMIN_PUBLIC = "admin public"  # its login page
ADMIN_LOGOUT = "admin logout"  # POST only; a GET is sent back to the admin's index
ADMIN_URLS: dict[str, str] = {
    "admin:index": ADMIN_SITE,
    "admin:login": ADMIN_PUBLIC,
    "admin:logout": ADMIN_LOGOUT,
    "admin:password_change": ADMIN_SITE,
    "admin:password_change_done": ADMIN_SITE,
    "admin:jsi18n": ADMIN_SITE,
    "admin:autocomplete": ADMIN_SITE,
    "admin:app_list": ADMIN_SITE,
    "admin:view_on_site": ADMIN_SITE,
    "admin/(?P<url>.*)$": ADMIN_SITE,  # the catch-all: 404 for staff
}
# ... each ModelAdmin's standard views (changelist, add, change, delete, history, and
# simple_history's version page), and its own extra views on one object:
ADMIN_MODEL_VIEWS = {"changelist", "add", "change", "delete", "history", "simple_history"}
ADMIN_EXTRA_OBJECT_VIEWS = {
    "admin:agents_agent_rule_bench": "agent",
    "admin:agents_escalationrule_what_if": "rule",
    "admin:webhooks_endpoint_replay": "endpoint",
    "admin:auth_user_password_change": None,  # a user's password: superusers only
}
# Every registered model -> the walked team's object of it, or None for the models only a
# superuser may see (Django's own permissions, which no team role grants).
ADMIN_OBJECTS: dict[type, str | None] = {
    get_user_model(): None,
    Group: None,
    UserToken: "user_token",  # each staff member's own tokens
    Team: "team",
    Membership: "membership",
    Agent: "agent",
    EscalationRule: "rule",
    Conversation: "conversation",
    AgentApiKey: "api_key",
    Label: "label",
    Escalation: "escalation",
    Event: "event",
    UrgencyTarget: "urgency_target",
    BusinessHours: "business_hours",
    Endpoint: "endpoint",
    Delivery: "delivery",
}

NOT_SEEN = {403, 404}


@dataclass
class Url:
    key: str  # the name, or the route of an unnamed pattern
    route: str
    pattern: URLPattern


def all_patterns(patterns=None, prefix: str = "", namespace: str | None = None) -> Iterator[Url]:
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            inner = namespace
            if entry.namespace:
                inner = f"{namespace}:{entry.namespace}" if namespace else entry.namespace
            yield from all_patterns(entry.url_patterns, prefix + str(entry.pattern), inner)
        else:
            route = prefix + str(entry.pattern)
            name = f"{namespace}:{entry.name}" if namespace and entry.name else entry.name
            yield Url(name or route, route, entry)


@pytest.fixture
def world(db) -> dict[str, Any]:
    """A team with one of everything, each carrying MARK."""
    team = factories.make_team("Zebra Billing")
    member = factories.make_user("zebra_ana")
    membership = factories.add_member(member, team, Role.SUPERVISOR)
    agent = factories.make_agent(team, "Zebra Bot")
    rule = factories.make_rule(agent, name="Zebra refunds")
    conversation = factories.make_conversation(agent, "zebra-chat")
    escalation = factories.open_escalation(conversation, reason="Zebra customer wants a refund")
    endpoint = webhook_services.endpoint_create(team=team, url="https://zebra.example.com/hook")
    event = Event.objects.filter(team=team).latest("pk")
    delivery = Delivery.objects.create(event=event, endpoint=endpoint)
    api_key, _ = agent_key_create(agent=agent, name="zebra key")
    user_token, _ = user_token_create(user=member, name="zebra token")
    return {
        "team": team,
        "member": member,
        "membership": membership,
        "agent": agent,
        "rule": rule,
        "rule_test": RuleTestCase.objects.create(agent=agent, name="Zebra case", messages=[]),
        "label": Label.objects.create(team=team, kind="topic", name="zebra-topic"),
        "conversation": conversation,
        "escalation": escalation,
        "event": event,
        "endpoint": endpoint,
        "delivery": delivery,
        "api_key": api_key,
        "user_token": user_token,
        "urgency_target": UrgencyTarget.objects.create(
            team=team,
            urgency="high",
            response_minutes=5,
            resolution_minutes=30,
            claim_minutes=10,
            reminder_minutes=10,
        ),
        "business_hours": BusinessHours.objects.create(team=team, time_zone="Europe/Paris"),
        "urgency": "high",
    }


@pytest.fixture
def outsiders(db) -> dict[str, Client]:
    other = factories.make_team("Legal")
    supervisor = factories.make_user("otto")
    factories.add_member(supervisor, other, Role.SUPERVISOR)
    contributor = factories.make_user("carl", is_staff=True)
    factories.add_member(contributor, other, Role.CONTRIBUTOR)
    clients = {"anonymous": Client(enforce_csrf_checks=True)}
    for user in (supervisor, contributor):
        clients[user.username] = Client(enforce_csrf_checks=True)
        clients[user.username].force_login(user)
    return clients


def fill(url: Url, parameters: dict[str, str], world: dict[str, Any]) -> str:
    """The URL with its path parameters set to the ids (or values) of the world's objects."""
    name = url.key if url.pattern.name else None
    values = {param: getattr(world[source], "pk", world[source]) for param, source in parameters.items()}
    if name:
        regex = url.pattern.pattern.regex
        if regex.groups and not regex.groupindex:  # positional groups (simple_history's version page)
            return reverse(name, args=list(values.values()))
        return reverse(name, kwargs=values)
    path = url.route
    for param, value in values.items():
        path = path.replace(f"<path:{param}>", str(value))
    return "/" + path.replace("(?P<url>.*)$", "no-such-page/")


def admin_model_of(url: Url) -> tuple[type, str] | None:
    """(model, view) for a ModelAdmin's standard URL, named or not."""
    for model in admin.site._registry:
        opts = model._meta
        if url.key.startswith(f"admin:{opts.app_label}_{opts.model_name}_"):
            view = url.key.removeprefix(f"admin:{opts.app_label}_{opts.model_name}_")
            return (model, view) if view in ADMIN_MODEL_VIEWS else None
        if url.route == f"admin/{opts.app_label}/{opts.model_name}/<path:object_id>/":
            return model, "redirect"  # the old URL: a redirect to the change page, checked on its own
    return None


def admin_parameters(url: Url, model: type, world: dict[str, Any]) -> dict[str, str]:
    source = ADMIN_OBJECTS[model]
    regex = url.pattern.pattern.regex
    if regex.groups and not regex.groupindex:  # simple_history: (object id, history id)
        history_id = world[source].history.latest("history_id").history_id
        world["history_id"] = history_id
        return {"object_id": source, "history_id": "history_id"}
    if "object_id" in regex.groupindex or "<path:object_id>" in url.route or "<int:object_id>" in url.route:
        return {"object_id": source} if source else {"object_id": "member"}
    return {}


def classify(url: Url, world: dict[str, Any]) -> tuple[str, dict[str, str]]:
    if url.key in URLS:
        return URLS[url.key]
    if url.key in ADMIN_URLS:
        kind = ADMIN_URLS[url.key]
        if url.key == "admin:app_list":
            return kind, {"app_label": "app_label"}
        if url.key == "admin:view_on_site":
            world["content_type"] = ContentType.objects.get_for_model(Escalation)
            return kind, {"content_type_id": "content_type", "object_id": "escalation"}
        return kind, {}
    if url.key in ADMIN_EXTRA_OBJECT_VIEWS:
        source = ADMIN_EXTRA_OBJECT_VIEWS[url.key]
        param = next(iter(url.pattern.pattern.converters))
        return ("admin object", {param: source}) if source else ("admin superuser", {param: "member"})
    found = admin_model_of(url)
    if found is not None:
        model, view = found
        assert model in ADMIN_OBJECTS, f"{model.__name__} is in the admin but not in ADMIN_OBJECTS"
        kind = "admin list" if view in ("changelist", "add") else "admin object"
        if view == "redirect":
            kind = "admin redirect"
        elif ADMIN_OBJECTS[model] is None:
            kind = "admin superuser"
        return kind, admin_parameters(url, model, world)
    raise AssertionError(
        f"{url.key} ({url.route}) is not classified in tests/hardening/test_url_permissions.py: "
        "say who may use it and add it to URLS or ADMIN_URLS."
    )


def walk(world: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(key, kind, path) of every URL pattern, filled."""
    world["app_label"] = "agents"
    for url in all_patterns():
        kind, parameters = classify(url, world)
        path = fill(url, parameters, world)
        if url.key == "console:suggestions":
            path += f"?agent={world['agent'].slug}"
        yield url.key, kind, path


def assert_shows_nothing_of_the_team(response, where: str) -> None:
    assert response.status_code < 500, where
    if response.status_code == 200 and not response.streaming:
        assert MARK not in response.content.decode(errors="replace").lower(), f"{where} shows the team's data"


def test_every_url_is_classified(world):
    keys = [key for key, _, _ in walk(world)]
    assert len(keys) > 100  # the admin's, the console's and the API's
    assert set(URLS) <= set(keys), "URLS names a pattern that no longer exists"


def test_anonymous_gets_a_login_redirect_or_401_and_never_data(world, outsiders):
    client = outsiders["anonymous"]
    for key, kind, path in walk(world):
        response = client.get(path)
        where = f"GET {path} ({key}) as anonymous"
        if kind == OPERATOR:
            # From loopback (the test client's address) it answers, team labels and all: that
            # is the scraper's view. From anywhere else, no.
            assert client.get(path, REMOTE_ADDR=OUTSIDE_ADDRESS).status_code == 403, where
        elif kind in (PUBLIC, ADMIN_PUBLIC):
            assert response.status_code == 200, where
            assert_shows_nothing_of_the_team(response, where)
        elif kind == PUBLIC_REDIRECT:
            assert response.status_code == 301, where
            assert client.get(response["Location"]).status_code == 200, where
        elif kind in (PAGE, OBJECT_PAGE):
            assert response.status_code == 302, where
            assert response["Location"].startswith("/console/login/?next="), where
        elif kind in (ACTION, POST_ONLY):
            assert response.status_code == 405, where
        elif kind in (API, API_OBJECT):
            assert response.status_code == 401, where
        elif kind == ADMIN_LOGOUT:
            assert response.status_code in (302, 405), where
        else:  # the admin
            assert response.status_code == 302, where
            assert response["Location"].startswith("/admin/login/"), where


@pytest.mark.parametrize("who", ["otto", "carl"])
def test_another_teams_supervisor_or_contributor_never_sees_the_team(world, outsiders, who):
    client = outsiders[who]
    staff = who == "carl"
    for key, kind, path in walk(world):
        where = f"GET {path} ({key}) as {who}"
        if kind == OPERATOR:  # a session is no key to it (see the anonymous test)
            assert client.get(path, REMOTE_ADDR=OUTSIDE_ADDRESS).status_code == 403, where
            continue
        response = client.get(path)
        assert_shows_nothing_of_the_team(response, where)
        if kind == OBJECT_PAGE:
            assert response.status_code == 404, where
        elif kind in (ACTION, POST_ONLY):
            assert response.status_code == 405, where
        elif kind == ADMIN_LOGOUT:
            assert response.status_code in (302, 405), where
        elif kind == API_OBJECT:
            assert response.status_code in {*NOT_SEEN, 405}, where
        elif kind.startswith("admin") and kind != ADMIN_PUBLIC and not staff:
            assert response.status_code == 302 and response["Location"].startswith("/admin/login/"), where
        elif kind == "admin redirect":
            assert response.status_code == 302 and response["Location"] == path + "change/", where
        elif kind == PUBLIC_REDIRECT:
            assert response.status_code == 301, where
        elif kind in ("admin object", "admin superuser"):
            # The admin sends an object outside the user's teams back to its index ("doesn't exist").
            assert response.status_code in {302, *NOT_SEEN}, where
            if response.status_code == 302:
                assert response["Location"] == "/admin/", where
        else:
            # 400: a filter naming another team's object is refused as a bad parameter.
            assert response.status_code in {200, 302, 400, *NOT_SEEN}, where
    # Everything they tried as a GET changed nothing.
    escalation = Escalation.objects.get(pk=world["escalation"].pk)
    assert escalation.status == Status.OPEN and escalation.claimed_by_id is None


def test_an_outsiders_console_action_on_the_team_is_404(world, outsiders):
    client = outsiders["otto"]
    client.get("/console/")  # sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    for key, kind, path in walk(world):
        if kind != ACTION:
            continue
        response = client.post(
            path, {"guidance": "zebra", "note": "x", "needed": "true"}, HTTP_X_CSRFTOKEN=token
        )
        assert response.status_code == 404, f"POST {path} ({key}) as otto"
    escalation = Escalation.objects.get(pk=world["escalation"].pk)
    assert escalation.status == Status.OPEN and escalation.claimed_by_id is None


def test_no_url_accepts_a_post_without_a_csrf_token(world, outsiders):
    """Not even the team's own member: every console action (and any other view) needs the token."""
    member = Client(enforce_csrf_checks=True)
    member.force_login(world["member"])
    for key, kind, path in walk(world):
        response = member.post(path, {"guidance": "go ahead"})
        assert response.status_code == 403, f"POST {path} ({key}) without a CSRF token"
        if kind == ACTION:
            assert "CSRF" in response.content.decode(), key
    escalation = Escalation.objects.get(pk=world["escalation"].pk)
    assert escalation.status == Status.OPEN and escalation.claimed_by_id is None


def test_console_actions_refuse_get_even_for_the_teams_member(world):
    member = Client()
    member.force_login(world["member"])
    actions = [(key, path) for key, kind, path in walk(world) if kind in (ACTION, POST_ONLY)]

    assert len(actions) == 10
    for key, path in actions:
        assert member.get(path).status_code == 405, key
