"""Demo data, so a newcomer who runs `make run` sees a live queue at once.

Built once: if any team exists (demo or real data), nothing is created. The
demo logins get random passwords, kept in VAR_DIR/demo-credentials.json
(mode 0600) so every start of the stack can print them again.

The demo goes through the product, so it shows the product working: the
configuration through the services the admin uses, conversations as the API
makes them, every message through post_message (so the agents' own rules open
the escalations, and a demo message that stops firing its rule stops the
seeding), the agent's escalate_to_human tool call, and the supervisors' and
agents' verbs (claim, respond, dismiss, withdraw), with their events and audit
rows.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from agents import services as agent_services
from agents.models import (
    Agent,
    AppliesTo,
    Channel,
    EscalationRule,
    LabelKind,
    MessageRole,
    RuleKind,
)
from agents.policy_judge import configured as policy_judge_configured
from escalations import demo_history, services, team_settings
from escalations.choices import Assignment, Severity, Urgency
from escalations.demo_talk import DemoWordingError, say, tell_conversation  # noqa: F401  (tests catch DemoWordingError here)
from escalations.models import BusinessHours, Holiday, WorkingPeriod
from escalations.tool_call import escalate_to_human
from supervisors.models import Membership, Role, Team

Login = tuple[str, str, str]  # (role, username, password)

CREDENTIALS_FILE_NAME = "demo-credentials.json"
RESET_HINT = "python manage.py changepassword <user>"

# The history rows of the demo agents and rules name the admin as their author, with this reason.
_CHANGE_REASON = "Demo data (seed_demo)"


def credentials_path() -> Path:
    return Path(settings.VAR_DIR) / CREDENTIALS_FILE_NAME


def load_demo_data() -> list[Login]:
    """Create the demo once; return the demo logins, read from the credentials file.

    An empty list means the logins are unknown: the data exists (or real teams
    do) but the credentials file is missing or unreadable.
    """
    with transaction.atomic():
        # Checked inside the transaction: on SQLite it is IMMEDIATE, so a second
        # seeder waits here and then finds the teams; on PostgreSQL it would
        # fail on the unique team name instead and leave nothing half-built.
        if not Team.objects.exists():
            logins = _build()
            # Inside the transaction: if the file cannot be written, no data
            # is left behind whose passwords nobody knows.
            _write_credentials(logins)
    return read_credentials()


def read_credentials() -> list[Login]:
    try:
        data = json.loads(credentials_path().read_text())
        return [(item["role"], item["username"], item["password"]) for item in data["logins"]]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def credential_lines(logins: list[Login]) -> list[str]:
    """One line per login, for the terminal; says how to recover when they are unknown."""
    if not logins:
        return [
            f"  Demo passwords are unknown ({credentials_path()} is missing or unreadable). "
            f"Set a new password with: {RESET_HINT}"
        ]
    return [
        f"  {role:<11} username: {username:<10} password: {password}   ({_login_note(username)})"
        for role, username, password in logins
    ]


# --- Writing and reading the credentials file ------------------------------------


def _write_credentials(logins: list[Login]) -> None:
    path = credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        # O_CREAT's mode applies only to a new file; a leftover one keeps its bits.
        os.fchmod(handle.fileno(), 0o600)
        json.dump(
            {
                "note": f"Demo logins made by seed_demo. Change one with: {RESET_HINT}",
                "logins": [
                    {"role": role, "username": username, "password": password}
                    for role, username, password in logins
                ],
            },
            handle,
            indent=2,
        )
    os.replace(temporary, path)  # readers never see a half-written file


def _login_note(username: str) -> str:
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        return "this user no longer exists"
    if user.is_superuser:
        return "superuser: admin, every team"
    teams_by_role: dict[str, list[str]] = {}
    for membership in Membership.objects.filter(user=user).select_related("team"):
        teams_by_role.setdefault(membership.get_role_display().lower(), []).append(membership.team.name)
    if not teams_by_role:
        return "no team"
    return "; ".join(f"{role}: {', '.join(sorted(teams))}" for role, teams in teams_by_role.items())


# --- The data ---------------------------------------------------------------------


def _build() -> list[Login]:
    """Call inside atomic."""
    logins: list[Login] = []
    admin = _user("admin", "admin", logins, superuser=True, first_name="Alex", last_name="Admin")
    ana = _user("ana", "supervisor", logins, first_name="Ana", last_name="Moreau")
    ben = _user("ben", "supervisor", logins, first_name="Ben", last_name="Okafor")

    support = Team.objects.create(
        name="Customer Support",
        slug="customer-support",
        description="Orders, deliveries, returns and account questions from the web shop.",
    )
    billing = Team.objects.create(
        name="Billing & Payments",
        slug="billing-payments",
        description="Refunds, invoices, chargebacks and the nightly ledger reconciliation.",
    )
    # Each team's vocabulary; agents and rules may only use these.
    _labels(
        support,
        topics=["Orders", "Legal", "Handover", "Customer experience", "Bot quality"],
        areas=["Web shop chat", "Complaints"],
    )
    _labels(
        billing,
        topics=["Refunds", "Legal", "Handover", "Reconciliation"],
        areas=["Refunds mailbox", "Ledger"],
    )
    _targets(support, billing)
    Membership.objects.create(user=ana, team=support, role=Role.SUPERVISOR)
    Membership.objects.create(user=ana, team=billing, role=Role.SUPERVISOR)
    Membership.objects.create(user=ben, team=billing, role=Role.SUPERVISOR)
    # The ladder may name only the team's members; the admin owns Billing but is off duty, so
    # round robin and coverage stay ana's and ben's.
    Membership.objects.create(user=admin, team=billing, role=Role.OWNER, on_duty=False)
    _ladder(billing, support, admin)

    chat_bot = _agent(
        admin,
        team=support,
        name="Support Chat Assistant",
        slug="support-chat-assistant",
        description=(
            "Answers customers in the web shop's chat: where an order is, delivery changes, "
            "returns, promo codes and account questions. It can look up orders, start returns "
            "and resend invoices. It hands the chat to a person when the customer threatens "
            "legal action, asks for a person, is clearly angry, or when it keeps giving the "
            "same answer without getting anywhere."
        ),
        default_topic="Orders",
        default_area="Web shop chat",
    )
    refund_bot = _agent(
        admin,
        team=billing,
        name="Refund Desk Bot",
        slug="refund-desk-bot",
        description=(
            "Reads and answers the refunds@ mailbox: checks the order and the payment, explains "
            "the refund policy, and refunds up to $100 on its own. A refund over $100, a "
            "chargeback or legal threat, or a request for a person goes to a Billing supervisor "
            "before it replies."
        ),
        default_topic="Refunds",
        default_area="Refunds mailbox",
        # Turns between Billing's supervisors with a console open (none at seed time).
        assignment=Assignment.ROUND_ROBIN,
    )
    reconciler = _agent(
        admin,
        team=billing,
        name="Nightly Invoice Reconciler",
        slug="nightly-invoice-reconciler",
        description=(
            "Runs every night at 02:00 UTC: matches the previous day's invoices against the "
            "payment provider's settlement file and the ledger, and posts corrections for "
            "rounding differences under $1. When an invoice total does not match what was paid, "
            "or a payment matches no invoice, it stops and asks Billing to review instead of "
            "changing the ledger itself."
        ),
        default_severity=Severity.INFO,
        default_topic="Reconciliation",
        default_area="Ledger",
    )

    legal_phrases = ["lawyer", "sue", "legal action", "attorney", "small claims"]
    legal = _rule(
        admin,
        chat_bot,
        name="Legal threats",
        order=10,
        kind=RuleKind.PHRASES,
        parameters={"phrases": legal_phrases},
        # People asking where to send a letter are not threatening anyone.
        exception_phrases=["legal department address", "terms of service"],
        severity=Severity.CRITICAL,
        topic="Legal",
        area="Complaints",
        reason_template="Customer is threatening legal action",
    )
    chat_person = _rule(
        admin,
        chat_bot,
        name="Asks for a person",
        order=20,
        kind=RuleKind.ASKS_FOR_HUMAN,
        parameters={"extra_phrases": ["real person", "speak to a manager", "someone from staff"]},
        severity=Severity.WARNING,
        topic="Handover",
        area="Web shop chat",
        reason_template="Customer asked to talk to a person",
    )
    angry = _rule(
        admin,
        chat_bot,
        name="Angry or frustrated customer",
        order=30,
        kind=RuleKind.SENTIMENT,
        parameters={"threshold": 0.6, "last_n": 2},
        severity=Severity.WARNING,
        topic="Customer experience",
        area="Web shop chat",
        reason_template="Customer is angry or frustrated",
    )
    circles = _rule(
        admin,
        chat_bot,
        name="Going in circles",
        order=40,
        kind=RuleKind.LOOP,
        applies_to=AppliesTo.AGENT,
        parameters={"repeats": 3, "similarity": 0.9},
        severity=Severity.INFO,
        topic="Bot quality",
        area="Web shop chat",
        reason_template="The assistant keeps giving the same answer",
    )
    # An intent rule: examples instead of phrases (docs/admins/intent-rules.md).
    closing = _rule(
        admin,
        chat_bot,
        name="Wants to close their account",
        order=50,
        kind=RuleKind.INTENT,
        parameters={
            "description": "the customer wants their account closed or deleted",
            "should": [
                "Please delete my account.",
                "I want to close my account, I'm done with this shop.",
                "How do I remove my account and all my data?",
                "Cancel my membership and delete my profile please",
            ],
            "should_not": [
                "How do I change the email address on my account?",
                "I forgot my account password.",
                "Can I add a second delivery address to my account?",
            ],
        },
        severity=Severity.WARNING,
        topic="Orders",
        area="Web shop chat",
        reason_template="Customer wants to close their account (like “{example}”)",
    )
    big_refund = _rule(
        admin,
        refund_bot,
        name="Refunds over $100",
        order=10,
        kind=RuleKind.AMOUNT,
        parameters={"phrases": ["refund", "money back", "chargeback"], "limit": 100, "currency": "USD"},
        exception_phrases=["refund policy"],
        severity=Severity.WARNING,
        topic="Refunds",
        area="Refunds mailbox",
        reason_template="Customer asked for a refund of {amount}",
    )
    _rule(
        admin,
        refund_bot,
        name="Legal threats",
        order=20,
        kind=RuleKind.PHRASES,
        parameters={"phrases": legal_phrases},
        exception_phrases=["legal department address"],
        severity=Severity.CRITICAL,
        topic="Legal",
        area="Refunds mailbox",
        reason_template="Customer is threatening legal action over a payment",
    )
    _rule(
        admin,
        refund_bot,
        name="Asks for a person",
        order=30,
        kind=RuleKind.ASKS_FOR_HUMAN,
        parameters={"extra_phrases": ["speak to a manager"]},
        severity=Severity.WARNING,
        topic="Handover",
        area="Refunds mailbox",
        reason_template="Customer asked for a person to handle their refund",
    )
    refund_policy = _rule(
        admin,
        refund_bot,
        name="Refund policy (asks the model)",
        order=40,
        kind=RuleKind.POLICY,
        parameters={
            "policy": "Escalate when the customer disputes a refund decision, mentions a bank "
            "dispute or chargeback, or asks for an exception to the refund policy.",
            "last_n": 6,
        },
        # Off while the stories are told (a model's verdict would make them vary, and
        # seeding would call it); turned on after them where a judge is configured.
        enabled=False,
        severity=Severity.WARNING,
        topic="Refunds",
        area="Refunds mailbox",
        reason_template="{verdict}",
    )
    mismatch = _rule(
        admin,
        reconciler,
        name="Invoice total mismatch",
        order=10,
        kind=RuleKind.REGEX,
        applies_to=AppliesTo.AGENT,
        parameters={"pattern": r"\bINV-\d{6}\b.*\btotal mismatch\b"},
        severity=Severity.WARNING,
        topic="Reconciliation",
        area="Ledger",
        reason_template="An invoice total does not match the settled payment",
    )

    # The rule bench's tests: what each agent's rules must (and must not) catch.
    _rule_tests(
        chat_bot,
        [
            ("Legal threat escalates", legal, [("user", "Fix this or I'll talk to my lawyer.")]),
            (
                "Asking for the legal address does not",
                None,
                [("user", "What is your legal department address? I need to send a form.")],
            ),
            (
                "Asking for a person escalates",
                chat_person,
                [
                    ("user", "Where is my order?"),
                    ("agent", "It ships tomorrow."),
                    ("user", "Can I talk to a real person please?"),
                ],
            ),
            ("A plain delivery question does not", None, [("user", "Hi, when will order 4411 arrive?")]),
            ("Closing the account escalates", closing, [("user", "I'd like to delete my account, please.")]),
            ("A password question does not", None, [("user", "How can I reset the password of my account?")]),
        ],
    )
    _rule_tests(
        refund_bot,
        [
            ("Refund over the limit escalates", big_refund,
             [("user", "Please refund the $1,250.00 I paid for the broken TV.")]),
            ("Small refund stays with the bot", None, [("user", "Can I get a refund of $40?")]),
        ],
    )  # fmt: skip
    # Read again: every rule saved above bumped its agent's rules_version, and an Agent
    # whose stamp is stale makes the matcher cache compile the rules again on every post
    # (62 compiles of ~0.2 s each for the stories, against 3).
    chat_bot, refund_bot, reconciler = (
        Agent.objects.get(pk=a.pk) for a in (chat_bot, refund_bot, reconciler)
    )
    rules = {
        "legal": legal,
        "chat_person": chat_person,
        "angry": angry,
        "circles": circles,
        "big_refund": big_refund,
        "mismatch": mismatch,
    }
    # The month before today first, so ids and times both run oldest to newest.
    demo_history.tell(
        demo_history.Cast(ana, ben, chat_bot, refund_bot, reconciler, rules), today=timezone.now().date()
    )
    _tell_stories(
        ana=ana, ben=ben, chat_bot=chat_bot, refund_bot=refund_bot, reconciler=reconciler, rules=rules
    )
    # On only where a judge is configured (docs/admins/policy-rules.md); the embedded
    # default has none, and an enabled policy rule without one is refused.
    if policy_judge_configured():
        refund_policy.enabled = True
        agent_services.rule_save(rule=refund_policy, user=admin, reason=_CHANGE_REASON)
    return logins


def _tell_stories(
    *,
    ana: Any,
    ben: Any,
    chat_bot: Agent,
    refund_bot: Agent,
    reconciler: Agent,
    rules: dict[str, EscalationRule],
) -> None:
    """Conversations and what happened to their escalations, oldest story first.

    Every message goes through post_message, so the agents' own rules open the
    escalations (the demo checks each one fires the rule its story means), and
    every step after that is a verb a supervisor or an agent uses.
    """
    user, agent, system = MessageRole.USER, MessageRole.AGENT, MessageRole.SYSTEM
    today = timezone.now().date()
    yesterday, two_days_ago = today - dt.timedelta(days=1), today - dt.timedelta(days=2)

    # Withdrawn: a late settlement file closed the gap before anyone looked.
    run, escalation = tell_conversation(
        reconciler,
        f"reconcile-{two_days_ago}",
        Channel.CRON,
        f"Nightly reconciliation for {two_days_ago}",
        [
            (system, f"Reconcile invoices dated {two_days_ago} against settlement-{two_days_ago}.csv."),
            (
                agent,
                "Matched 1,309 of 1,312 invoices. Posted 2 rounding corrections under $1 "
                "(INV-204790, INV-204802).",
            ),
            (
                agent,
                "INV-204817: total mismatch: ledger $1,240.00, settlement $1,204.00 "
                "(difference $36.00). Not correcting the ledger; needs review.",
            ),
        ],
        fires=rules["mismatch"],
    )
    # Withdrawn first: the escalation is blocking, so the run's next message waits for it.
    services.withdraw(
        escalation_id=escalation.pk,
        agent=reconciler,
        reason="The late settlement file covered the $36.00 difference; INV-204817 reconciles.",
    )
    say(
        run,
        agent,
        f"A late settlement file (settlement-{two_days_ago}-b.csv) "
        "arrived at 02:40 with a $36.00 adjustment; INV-204817 now "
        "reconciles.",
    )

    # Resolved by ben: a refund over the bot's limit, approved with guidance.
    thread, escalation = tell_conversation(
        refund_bot,
        "<CAF3k2q9x7@mail.example.net>",
        Channel.EMAIL,
        "Charged for the annual plan by mistake",
        [
            (
                user,
                "Hi, I was charged $149 today for the annual Pro plan. I meant to pick the "
                "monthly one. Priya Raman",
            ),
            (
                agent,
                "Thanks for letting us know, Priya. I can move you to the monthly Pro plan "
                "from today. Would you like the annual charge returned to your card?",
            ),
            (user, "Yes please, I'd like my money back for the annual charge ($149)."),
        ],
        metadata={"customer": "Priya Raman", "account": "ACC-55231"},
        fires=rules["big_refund"],
    )
    services.respond(
        escalation_id=escalation.pk,
        user=ben,
        guidance=(
            "Approve the full $149 refund: the annual plan was bought today and never used. "
            "Switch the account to monthly Pro from today and confirm both in one reply."
        ),
    )
    say(
        thread,
        agent,
        "Done: $149 is on its way back to your card (3-5 working "
        "days) and your account is on monthly Pro from today.",
    )

    # Dismissed by ana: the parcel arrived while the card waited.
    chat, escalation = tell_conversation(
        chat_bot,
        "chat-c41e77",
        Channel.CHAT,
        "Where is my order?",
        [
            (
                user,
                "My order was meant to arrive on Tuesday and it's Thursday. Nobody tells me "
                "anything, this is awful service.",
            ),
            (
                agent,
                "I'm sorry for the wait. Order #100391 is at the local depot and out for "
                "delivery today before 6 pm.",
            ),
            (user, "That's exactly what it said yesterday. Terrible. I'm really annoyed."),
        ],
        metadata={"customer": "Tom Becker", "order": "#100391"},
        fires=rules["angry"],
    )
    # The sentiment rule reads the customer's last two messages, so even this calm one
    # fires it again: the engine adds it to the open card instead of opening another.
    say(chat, user, "Ok the driver just rang the bell. Got it, thanks.", fires=rules["angry"])
    services.dismiss(
        escalation_id=escalation.pk,
        user=ana,
        note="Parcel delivered while we waited and the customer is happy; let the bot close the chat.",
    )
    # Looked back on later: the parcel was on its way all along, so no person was needed.
    services.mark_needed(escalation_id=escalation.pk, user=ana, needed=False)

    # Claimed by ana: a customer who wants a person.
    chat, escalation = tell_conversation(
        chat_bot,
        "chat-2b7d90",
        Channel.CHAT,
        "Change the delivery address after dispatch",
        [
            (user, "Can I change the delivery address for order #100517? It says dispatched."),
            (
                agent,
                "Once an order is dispatched I can't change the address here, but you can "
                "redirect it on the courier's tracking page with tracking number "
                "1Z 999 AA1 01 2345 6784.",
            ),
            (user, "I tried, the courier says the sender has to do it. Can I speak to a real person please?"),
        ],
        metadata={"customer": "Lena Fischer", "order": "#100517"},
        fires=rules["chat_person"],
    )
    services.claim(escalation_id=escalation.pk, user=ana, reason="Calling the courier about it")

    # Open, info: a non-blocking note from yesterday's reconciliation run, by the agent's own
    # escalate_to_human tool call (what POST /api/v1/escalate/ does).
    run, _ = tell_conversation(
        reconciler,
        f"reconcile-{yesterday}",
        Channel.CRON,
        f"Nightly reconciliation for {yesterday}",
        [
            (system, f"Reconcile invoices dated {yesterday} against settlement-{yesterday}.csv."),
            (agent, "Matched 1,287 of 1,290 invoices. No rounding corrections needed."),
            (
                agent,
                "3 payments totalling $512.40 match no invoice (PAY-88121, PAY-88140, "
                "PAY-88177). Leaving them unmatched and asking Billing to review.",
            ),
        ],
        fires=None,
    )
    escalate_to_human(
        # Read now, as an API request's key check reads it: the call works under the team's
        # settings stamp read with it (the labels made above included).
        agent=Agent.objects.select_related("team").get(pk=reconciler.pk),
        conversation_id=run.pk,
        reason="3 payments ($512.40) match no invoice; please review before the month-end close",
        severity=Severity.INFO,
        topic="Reconciliation",
        area="Ledger",
        blocking=False,  # the run finished; this only leaves a card
    )

    # Open, warning: a $240 refund waiting for Billing; ben took it, then handed it back.
    _, escalation = tell_conversation(
        refund_bot,
        "<20261121.8d1e@mail.example.org>",
        Channel.EMAIL,
        "Return of order #100455 (standing desk)",
        [
            (
                user,
                "Hello, has my return for order #100455 arrived? I sent the standing desk "
                "back two weeks ago. Marcus Ng",
            ),
            (
                agent,
                "Hi Marcus, yes: the warehouse received and checked the desk in on the 12th, "
                "in good condition.",
            ),
            (user, "Great, then please refund the $240 to my card."),
        ],
        metadata={"customer": "Marcus Ng", "order": "#100455"},
        fires=rules["big_refund"],
    )
    services.claim(escalation_id=escalation.pk, user=ben, reason="Checking the return with the warehouse")
    services.release(
        escalation_id=escalation.pk, user=ben, reason="Off shift; the warehouse answers tomorrow"
    )

    # Open, info: the assistant repeating itself about a promo code.
    same_answer = (
        "WINTER20 gives 20% off orders over $50. Please check that your basket is over $50 "
        "before shipping, then enter the code at checkout."
    )
    tell_conversation(
        chat_bot,
        "chat-5a0e19",
        Channel.CHAT,
        "Promo code not accepted",
        [
            (user, "The code WINTER20 doesn't work at checkout."),
            (agent, same_answer),
            (user, "It's $64 before shipping. It still says the code is invalid."),
            (agent, same_answer),
            (user, "You just said that. It doesn't work!"),
            (agent, same_answer),
        ],
        metadata={"customer": "Sam Ortiz", "basket": "$64.00"},
        fires=rules["circles"],
    )

    # Open, critical: an angry customer who then threatens to sue; the second
    # trigger adds evidence to the same card and raises it to critical.
    chat, _ = tell_conversation(
        chat_bot,
        "chat-8f31c2",
        Channel.CHAT,
        "Blender arrived cracked, again",
        [
            (
                user,
                "My order #100482 arrived today and the blender jug is cracked. That's the "
                "second one this month, honestly this is ridiculous.",
            ),
            (
                agent,
                "I'm sorry about that, Dana. I can send a replacement jug today at no cost, "
                "or start a return for a full refund. Which would you prefer?",
            ),
            (
                user,
                "Neither. I'm fed up and angry: your couriers are useless, this is awful and a "
                "waste of my time.",
            ),
        ],
        metadata={"customer": "Dana Whitfield", "order": "#100482"},
        fires=rules["angry"],
    )
    say(
        chat,
        user,
        "Hello?? If I don't get compensation for both broken orders by Friday I'm taking legal "
        "action. My lawyer already has the photos.",
        fires=rules["legal"],
    )


# --- Builders -----------------------------------------------------------------------


def _user(username: str, role: str, logins: list[Login], *, superuser: bool = False, **fields):
    """A demo login with a fresh random password; an existing account is used as it is."""
    User = get_user_model()
    existing = User.objects.filter(username=username).first()
    if existing is not None:
        # Someone made this account before the first start (createsuperuser):
        # never reset a password we did not set.
        return existing
    password = secrets.token_urlsafe(9)
    email = f"{username}@example.com"
    if superuser:
        user = User.objects.create_superuser(username, email, password, **fields)
    else:
        user = User.objects.create_user(username, email, password, **fields)
    logins.append((role, username, password))
    return user


def _targets(support: Team, billing: Team) -> None:
    """Support answers round the clock on the built-in targets, except a faster high urgency;
    Billing works office hours in Paris, so its targets count working time only."""
    team_settings.urgency_target_set(
        team_id=support.pk,
        urgency="high",
        response_minutes=10,
        resolution_minutes=45,
        claim_minutes=15,
        reminder_minutes=10,
    )
    hours = BusinessHours(team=billing, time_zone="Europe/Paris")
    team_settings.team_settings_save(saved=[hours])
    christmas = dt.date(timezone.now().year, 12, 25)
    team_settings.team_settings_save(
        saved=[
            *(
                WorkingPeriod(business_hours=hours, weekday=day, opens=opens, closes=closes)
                for day in range(5)
                for opens, closes in [(dt.time(9), dt.time(12, 30)), (dt.time(13, 30), dt.time(18))]
            ),
            Holiday(business_hours=hours, date=christmas, name="Christmas Day"),
        ]
    )


def _ladder(billing: Team, support: Team, admin: Any) -> None:
    """Billing's two-level ladder: its supervisors after 10 minutes unclaimed, then (not for low
    urgency) Customer Support's supervisors and the admin 20 minutes later."""
    team_settings.ladder_set(
        team_id=billing.pk,
        levels=[
            {"after_minutes": 10},
            {
                "after_minutes": 20,
                "min_urgency": Urgency.MEDIUM,
                "notify_supervisors": False,
                "notify_team": support.pk,
                "notify_users": [admin],
            },
        ],
    )


def _labels(team: Team, *, topics: list[str], areas: list[str]) -> None:
    for kind, names in [(LabelKind.TOPIC, topics), (LabelKind.AREA, areas)]:
        for name in names:
            agent_services.label_create(team=team, kind=kind, name=name)


def _rule_tests(agent: Agent, cases: list[tuple[str, EscalationRule | None, list[tuple[str, str]]]]) -> None:
    """(name, the rule that must fire or None for "must not escalate", [(role, text)…])."""
    for name, rule, lines in cases:
        data = {
            "name": name,
            "messages": [{"role": role, "content": text} for role, text in lines],
            "should_escalate": rule is not None,
            "expected_rule": rule,
        }
        agent_services.rule_test_create(agent=agent, data=data)


# Agents and rules through the services the admin and the API use, with the admin as author.


def _agent(admin: Any, **fields: Any) -> Agent:
    return agent_services.agent_save(agent=Agent(**fields), user=admin, reason=_CHANGE_REASON)


def _rule(admin: Any, agent: Agent, **fields: Any) -> EscalationRule:
    rule = EscalationRule(agent=agent, **fields)
    return agent_services.rule_save(rule=rule, user=admin, reason=_CHANGE_REASON)
