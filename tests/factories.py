"""Plain builders for test data: explicit arguments, sensible defaults, no magic."""

from itertools import count

from django.contrib.auth import get_user_model

from agents.keys import agent_key_create
from agents.models import Agent, Channel, Conversation, EscalationRule, Message, RuleKind
from escalations import services
from escalations.models import Escalation, Origin
from supervisors.models import Membership, Role, Team
from supervisors.tokens import user_token_create

_seq = count(1)


def make_user(username: str | None = None, *, superuser: bool = False, **extra):
    username = username or f"user{next(_seq)}"
    User = get_user_model()
    if superuser:
        return User.objects.create_superuser(username, f"{username}@example.com", "pw", **extra)
    return User.objects.create_user(username, f"{username}@example.com", "pw", **extra)


def make_team(name: str | None = None) -> Team:
    name = name or f"Team {next(_seq)}"
    return Team.objects.create(name=name, slug=name.lower().replace(" ", "-"))


def add_member(user, team: Team, role: Role = Role.SUPERVISOR) -> Membership:
    return Membership.objects.create(user=user, team=team, role=role)


def make_agent(team: Team, name: str | None = None, **extra) -> Agent:
    name = name or f"Agent {next(_seq)}"
    return Agent.objects.create(
        team=team,
        name=name,
        slug=name.lower().replace(" ", "-"),
        description="Answers billing questions; hands refunds over $100 to a human.",
        **extra,
    )


def make_rule(agent: Agent, **extra) -> EscalationRule:
    fields = {
        "name": "Refunds",
        "kind": RuleKind.PHRASES,
        "parameters": {"phrases": ["refund"]},
        "reason_template": "Customer asked for a refund",
    }
    fields.update(extra)
    return EscalationRule.objects.create(agent=agent, **fields)


def make_refund_rule(agent: Agent) -> EscalationRule:
    """An amount rule: a refund over $100 escalates as critical, its reason naming the amount."""
    return make_rule(
        agent,
        name="Refunds over $100",
        kind="amount",
        parameters={"phrases": ["refund"], "limit": 100, "currency": "USD"},
        severity="critical",
        reason_template="Customer asked for a refund of {amount} (limit {limit})",
    )


def make_refund_desk(role: Role = Role.SUPERVISOR) -> tuple[Team, Agent, str, str]:
    """Billing, its "Refund Desk Bot" (the refund rule above, an API key) and ana (`role`, a user
    token): the parties of the end-to-end tests. Returns the team, the agent, the key and the token."""
    team = make_team("Billing")
    agent = make_agent(team, "Refund Desk Bot")
    make_refund_rule(agent)
    _, key = agent_key_create(agent=agent, name="tests")
    ana = make_user("ana")
    add_member(ana, team, role)
    _, token = user_token_create(user=ana)
    return team, agent, key, token


def make_conversation(agent: Agent, external_id: str | None = None, **extra) -> Conversation:
    conversation = Conversation.objects.create(
        agent=agent, external_id=external_id or f"conv-{next(_seq)}", channel=Channel.CHAT, **extra
    )
    Message.objects.create(conversation=conversation, role="user", content="I want my money back")
    return conversation


def open_escalation(conversation: Conversation, **extra) -> Escalation:
    fields = {"origin": Origin.TOOL_CALL, "reason": "Customer wants a refund of $150"}
    fields.update(extra)
    return services.open_escalation(conversation=conversation, **fields).escalation
