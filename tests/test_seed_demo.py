"""`manage.py seed_demo`: a realistic demo built once through the services, and logins that work."""

import datetime as dt
import json
import re
import stat
from io import StringIO

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command
from django.test import Client, RequestFactory
from django.utils import timezone

from agents import policy_judge
from agents import services as agent_services
from agents.models import Agent, Conversation, EscalationRule, Message, RuleKind
from escalations import demo
from escalations.models import Escalation, Event, EventType, Origin, Status
from supervisors.models import Membership, Team
from tests import factories

LOGIN_LINE = re.compile(r"^\s+(\S+)\s+username: (\S+)\s+password: (\S+)\s+\((.+)\)$")


@pytest.fixture(autouse=True)
def var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    return tmp_path


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def logins_in(output: str) -> list[tuple[str, str, str, str]]:
    return [match.groups() for line in output.splitlines() if (match := LOGIN_LINE.match(line))]


def today_start() -> dt.datetime:
    """Today's stories are told at the real now; the history ends the day before (UTC)."""
    return timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)


def todays_escalations():
    return Escalation.objects.filter(created_at__gte=today_start())


def counts() -> dict[str, int]:
    models = [Team, Membership, get_user_model(), Agent, EscalationRule, Conversation, Message]
    models += [Escalation, Event, Escalation.history.model]
    return {model.__name__: model.objects.count() for model in models}


def test_it_creates_the_teams_and_memberships(db):
    seed()

    assert set(Team.objects.values_list("slug", "name")) == {
        ("customer-support", "Customer Support"),
        ("billing-payments", "Billing & Payments"),
    }
    assert set(Membership.objects.values_list("user__username", "team__slug", "role")) == {
        ("ana", "customer-support", "supervisor"),
        ("ana", "billing-payments", "supervisor"),
        ("ben", "billing-payments", "supervisor"),
        ("admin", "billing-payments", "owner"),  # named in Billing's ladder, which takes members only
    }
    assert not Membership.objects.get(user__username="admin").on_duty
    assert get_user_model().objects.get(username="admin").is_superuser


def test_it_creates_agents_with_job_descriptions_and_valid_rules_of_every_kind(db):
    seed()

    agents = {agent.slug: agent for agent in Agent.objects.select_related("team")}
    assert {slug: agent.team.slug for slug, agent in agents.items()} == {
        "support-chat-assistant": "customer-support",
        "refund-desk-bot": "billing-payments",
        "nightly-invoice-reconciler": "billing-payments",
    }
    for agent in agents.values():
        agent.full_clean()
        assert len(agent.description) > 150
        assert agent.rules.exists()
    rules = list(EscalationRule.objects.all())
    for rule in rules:
        rule.full_clean()
        assert rule.reason_template and rule.topic and rule.area
    assert {rule.kind for rule in rules} == set(RuleKind.values)
    legal = EscalationRule.objects.get(agent__slug="support-chat-assistant", name="Legal threats")
    assert {"lawyer", "sue", "legal action"} <= set(legal.parameters["phrases"])
    assert "legal department address" in legal.exception_phrases
    refunds = EscalationRule.objects.get(kind=RuleKind.AMOUNT)
    assert refunds.parameters == {
        "phrases": ["refund", "money back", "chargeback"],
        "limit": 100,
        "currency": "USD",
    }
    sentiment = EscalationRule.objects.get(kind=RuleKind.SENTIMENT)
    assert sentiment.parameters == {"threshold": 0.6, "last_n": 2}
    # The audit names who configured them.
    assert {row.history_user.username for row in EscalationRule.history.all()} == {"admin"}


def test_it_opens_escalations_through_the_services_in_every_state(db):
    seed()

    by_status: dict[str, list[Escalation]] = {}
    for escalation in todays_escalations().select_related("claimed_by", "responder"):
        by_status.setdefault(escalation.status, []).append(escalation)
    assert {status: len(items) for status, items in by_status.items()} == {
        Status.OPEN: 4,
        Status.CLAIMED: 1,
        Status.RESOLVED: 1,
        Status.DISMISSED: 1,
        Status.WITHDRAWN: 1,
    }
    assert {e.severity for e in by_status[Status.OPEN]} == {"critical", "warning", "info"}
    (claimed,) = by_status[Status.CLAIMED]
    assert claimed.claimed_by.username == "ana"
    (resolved,) = by_status[Status.RESOLVED]
    assert (resolved.responder.username, bool(resolved.guidance)) == ("ben", True)
    (dismissed,) = by_status[Status.DISMISSED]
    assert (dismissed.responder.username, bool(dismissed.closing_note)) == ("ana", True)
    (withdrawn,) = by_status[Status.WITHDRAWN]
    assert withdrawn.agent.slug == "nightly-invoice-reconciler" and withdrawn.closing_note
    assert Escalation.objects.filter(origin=Origin.TOOL_CALL, blocking=False).count() == 1
    todays_conversations = Conversation.objects.filter(created_at__gte=today_start())
    assert todays_conversations.count() == 8
    assert all(c.messages.count() >= 3 for c in todays_conversations)


def test_every_escalation_has_one_event_and_one_audit_row_per_change(db):
    seed()

    expected_last_event = {
        Status.OPEN: {EventType.CREATED, EventType.UPDATED, EventType.RELEASED},
        Status.CLAIMED: {EventType.CLAIMED},
        Status.RESOLVED: {EventType.RESOLVED},
        Status.DISMISSED: {EventType.UPDATED},  # marked not needed after it was dismissed
        Status.WITHDRAWN: {EventType.WITHDRAWN},
    }
    for escalation in todays_escalations():
        events = list(escalation.events.order_by("id").values_list("type", flat=True))
        assert events[0] == EventType.CREATED
        assert events[-1] in expected_last_event[escalation.status]
        history = list(escalation.history.order_by("history_id"))
        assert len(history) == len(events)
        assert history[-1].status == escalation.status
    # The legal threat after the angry messages joined the same card and raised it.
    critical = Escalation.objects.get(severity="critical")
    # The threat is angry too: the engine's two hits on it, the headline (legal) first.
    assert [item["rule_name"] for item in critical.evidence] == [
        "Angry or frustrated customer",
        "Legal threats",
        "Angry or frustrated customer",
    ]
    assert critical.rule.name == "Legal threats"
    assert list(critical.events.values_list("type", flat=True)) == [
        "escalation.created",
        "escalation.updated",
    ]


def test_rule_evidence_points_at_a_message_of_the_conversation_that_matches(db):
    seed()

    for escalation in Escalation.objects.filter(origin=Origin.RULE).select_related("rule"):
        for item in escalation.evidence:
            message = Message.objects.get(pk=item["message_id"])
            assert message.conversation_id == escalation.conversation_id
            # The matcher's evidence: the span it matched, not a copy of the message.
            assert item["text"] == message.content[item["start"] : item["end"]]
            rule = EscalationRule.objects.get(pk=item["rule_id"])
            assert item["kind"] == rule.kind
            text = message.content.lower()
            if rule.kind == RuleKind.REGEX:
                assert re.search(rule.parameters["pattern"], message.content)
            elif rule.kind in (RuleKind.PHRASES, RuleKind.AMOUNT):
                assert not any(phrase in text for phrase in rule.exception_phrases)


def test_every_rule_opened_escalation_was_opened_by_the_engine_on_its_trigger_message(db):
    """The demo went through post_message: each trigger message, replayed through the
    dry run with the conversation up to it, fires the rule its evidence names."""
    seed()

    rule_opened = Escalation.objects.filter(origin=Origin.RULE).select_related("agent")
    assert todays_escalations().filter(origin=Origin.RULE).count() == 7
    for escalation in rule_opened:
        # The rule of the latest headline hit (raised from angry to legal on the critical card).
        assert escalation.rule_id in {item["rule_id"] for item in escalation.evidence}
        for item in escalation.evidence:
            trigger = Message.objects.get(pk=item["message_id"])
            history = [
                {"role": m.role, "content": m.content}
                for m in trigger.conversation.messages.filter(pk__lte=trigger.pk).order_by("pk")
            ]
            evaluation = agent_services.evaluate_conversation(agent=escalation.agent, messages=history)
            assert item["rule_id"] in {hit.rule_id for hit in evaluation.hits}, trigger.content
        # And the reason is the engine's rendering of the rule's template.
        assert "{" not in escalation.reason
    refund = Escalation.objects.filter(rule__kind=RuleKind.AMOUNT, status=Status.OPEN).get()
    assert refund.reason == "Customer asked for a refund of $240"  # {amount}, filled by the engine


def test_the_agents_tool_call_and_the_verbs_left_their_events(db):
    seed()

    (tool_call,) = Escalation.objects.filter(origin=Origin.TOOL_CALL)
    assert (tool_call.agent.slug, tool_call.blocking, tool_call.severity) == (
        "nightly-invoice-reconciler",
        False,
        "info",
    )
    # Its run's messages fire no rule: the agent asked by itself.
    assert (tool_call.rule_id, tool_call.evidence) == (None, [])
    run = [{"role": m.role, "content": m.content} for m in tool_call.conversation.messages.order_by("pk")]
    assert agent_services.evaluate_conversation(agent=tool_call.agent, messages=run).hits == []
    # Each story's verbs, in order, with who did them.
    # The engine's events name the agent; the supervisors' name the supervisor.
    stories = {
        Status.WITHDRAWN: [
            ("created", "nightly-invoice-reconciler"),
            ("withdrawn", "nightly-invoice-reconciler"),
        ],
        Status.RESOLVED: [("created", "refund-desk-bot"), ("resolved", "ben")],
        Status.DISMISSED: [
            ("created", "support-chat-assistant"),
            ("updated", "support-chat-assistant"),  # the customer's next message, added by the engine
            ("dismissed", "ana"),
            ("updated", "ana"),  # marked not needed
        ],
        Status.CLAIMED: [("created", "support-chat-assistant"), ("claimed", "ana")],
    }
    for status, expected in stories.items():
        escalation = todays_escalations().get(status=status)
        events = escalation.events.order_by("id").select_related("actor", "actor_agent")
        assert [
            (
                event.type.removeprefix("escalation."),
                event.actor.username if event.actor else event.actor_agent.slug,
            )
            for event in events
        ] == expected, status
    dismissed = todays_escalations().get(status=Status.DISMISSED)
    assert (dismissed.needed, dismissed.marked_by.username) == (False, "ana")
    released = Escalation.objects.get(events__type=EventType.RELEASED)
    assert (released.status, released.claimed_by, released.rule.kind) == (Status.OPEN, None, RuleKind.AMOUNT)
    # The paused conversations went on after their answer, through post_message too.
    withdrawn = todays_escalations().get(status=Status.WITHDRAWN)
    assert withdrawn.conversation.messages.order_by("pk").last().created_at >= withdrawn.closed_at


def test_a_demo_message_that_no_longer_fires_its_rule_stops_the_demo(db, monkeypatch):
    # A rule the stories count on, made deaf: the demo must refuse to pretend it fired.
    saved = demo._rule

    def _rule(admin, agent, **fields):
        if fields["name"] == "Going in circles":
            fields["parameters"] = {**fields["parameters"], "repeats": 5}
        return saved(admin, agent, **fields)

    monkeypatch.setattr(demo, "_rule", _rule)

    with pytest.raises(demo.DemoWordingError, match="expected Going in circles"):
        seed()
    assert not Team.objects.exists()  # nothing half-built is left behind


def test_it_prints_three_logins_that_authenticate(db, var_dir):
    output = seed()

    logins = logins_in(output)
    assert [(role, username) for role, username, _, _ in logins] == [
        ("admin", "admin"),
        ("supervisor", "ana"),
        ("supervisor", "ben"),
    ]
    for _, username, password, _ in logins:
        assert len(password) >= 12
        assert (
            authenticate(RequestFactory().post("/console/login/"), username=username, password=password)
            is not None
        )
    assert logins[0][3] == "superuser: admin, every team"
    assert logins[1][3] == "supervisor: Billing & Payments, Customer Support"
    path = var_dir / "demo-credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    saved = json.loads(path.read_text())["logins"]
    assert [(x["username"], x["password"]) for x in saved] == [(u, p) for _, u, p, _ in logins]


def test_running_it_again_creates_nothing_and_prints_the_same_passwords(db):
    first = seed()
    before = counts()

    second = seed()

    assert counts() == before
    assert logins_in(second) == logins_in(first)
    assert len(logins_in(second)) == 3


def test_without_the_credentials_file_it_says_the_passwords_are_unknown(db, var_dir):
    seed()
    (var_dir / "demo-credentials.json").unlink()
    before = counts()

    output = seed()

    assert counts() == before
    assert logins_in(output) == []
    assert "unknown" in output and "python manage.py changepassword <user>" in output


def test_it_adds_nothing_when_real_teams_exist(db, var_dir):
    factories.make_team("Legal")

    output = seed()

    assert list(Team.objects.values_list("name", flat=True)) == ["Legal"]
    assert not get_user_model().objects.exists()
    assert not (var_dir / "demo-credentials.json").exists()
    assert "unknown" in output


def test_an_existing_account_keeps_its_password_and_is_not_printed(db):
    factories.make_user("admin", superuser=True)  # password "pw"

    output = seed()

    assert [username for _, username, _, _ in logins_in(output)] == ["ana", "ben"]
    assert authenticate(RequestFactory().post("/console/login/"), username="admin", password="pw") is not None
    assert Team.objects.count() == 2


def test_the_demo_ships_rule_tests_and_they_all_pass(db, capsys):
    seed()

    call_command("check_rules")  # raises CommandError on any failure

    assert "8 of 8 rule tests passed." in capsys.readouterr().out


def test_billing_has_a_two_level_ladder_and_its_refund_bot_takes_turns(db):
    seed()

    levels = Team.objects.get(slug="billing-payments").ladder_levels.order_by("number")
    assert [(level.number, level.after_minutes, level.min_urgency) for level in levels] == [
        (1, 10, "low"),
        (2, 20, "medium"),
    ]
    assert levels[1].notify_team.slug == "customer-support"
    assert list(levels[1].notify_users.values_list("username", flat=True)) == ["admin"]
    assert Agent.objects.get(slug="refund-desk-bot").assignment == "round_robin"


def test_with_a_judge_configured_the_stories_ask_it_nothing_and_its_rule_is_on_after(
    db, settings, monkeypatch
):
    settings.POLICY_JUDGE_BASE_URL = "http://127.0.0.1:9/v1"
    settings.POLICY_JUDGE_MODEL = "demo-judge"

    def judge(**kwargs):
        raise AssertionError("the demo's stories must not depend on a model's verdict")

    monkeypatch.setattr(policy_judge, "judge", judge)

    seed()

    assert EscalationRule.objects.get(kind=RuleKind.POLICY).enabled
    assert todays_escalations().count() == 8


# --- The month before today (escalations/demo_history.py) -----------------------------------


def test_the_history_is_stamped_in_the_past_in_the_order_it_was_written(db):
    seed()

    start = today_start()
    history = Escalation.objects.filter(created_at__lt=start)
    assert history.count() >= 50
    oldest = history.order_by("created_at").first().created_at
    assert start - dt.timedelta(days=31) <= oldest < start - dt.timedelta(days=28)
    # Written oldest first: ids and times agree, as the event feed's cursor expects.
    for model in (Escalation, Event, Message, Conversation):
        stamps = list(model.objects.order_by("pk").values_list("created_at", flat=True))
        assert stamps == sorted(stamps), model.__name__
    # Every stamp of one escalation from its own moment: its first event, its first audit row,
    # its trigger message, and its answer after it.
    for escalation in history.select_related("conversation"):
        created = escalation.events.order_by("id").first()
        first_row = escalation.history.order_by("history_id").first()
        assert created.created_at == first_row.history_date == escalation.created_at
        trigger = Message.objects.get(pk=escalation.evidence[0]["message_id"])
        assert trigger.created_at <= escalation.created_at < trigger.created_at + dt.timedelta(seconds=1)
        assert escalation.closed_at is not None
        assert escalation.created_at < escalation.closed_at < escalation.created_at + dt.timedelta(hours=8)
        assert len(escalation.events.all()) == escalation.history.count()


def test_insights_shows_a_month_and_flags_the_noisy_rule(db):
    seed()
    client = Client()
    client.force_login(get_user_model().objects.get(username="ana"))

    page = client.get("/console/insights/", {"period": "30"})

    assert page.status_code == 200
    days = {bar["title"].split(":")[0] for bar in page.context["chart"]["bars"]}
    assert len(days) >= 20, sorted(days)
    assert [rule.label for rule in page.context["noisy_rules"]] == ["Angry or frustrated customer"]
    answered = {person.name: person.answered for person in page.context["supervisors"]}
    assert answered["ana"] >= 20 and answered["ben"] >= 5, answered
    rules = {rule.label: rule for rule in page.context["rules"]}
    assert rules["Refunds over $100"].claim_p50 is not None


def test_the_suggestions_page_proposes_the_words_of_the_chats_that_needed_a_person(db):
    seed()
    client = Client()
    client.force_login(get_user_model().objects.get(username="ana"))

    page = client.get("/console/insights/suggestions/", {"agent": "support-chat-assistant"})

    assert page.status_code == 200
    phrases = [suggestion.phrase for suggestion in page.context["result"].suggestions]
    assert "damaged" in phrases, phrases
    assert "damaged" in page.content.decode()
