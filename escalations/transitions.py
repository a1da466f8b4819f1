"""The state machine's rules: who may apply which verb to an escalation now, and the status write.

TRANSITIONS (escalations/models.py) says which statuses a verb starts from and
which it leads to; `refusal` adds who may act, and words each refusal for a
person. The verbs (escalations/services.py) call `require` before they change
anything and `move` to set the status; the console, the API and the admin ask
`escalations.selectors.allowed_verbs`, which asks `refusal`: one set of rules
for the buttons shown and the actions taken.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser

from agents.models import Agent
from escalations.errors import EscalationError, NotAllowed, TransitionRefused
from escalations.models import TRANSITIONS, Escalation, Status, Verb
from escalations.wording import name_of, when
from supervisors.models import Role
from supervisors.selectors import has_team_role


def move(escalation: Escalation, verb: Verb) -> None:
    """Set the status the verb leads to: the one place an escalation's status changes after opening.

    The caller has the row locked (or re-checks it in its UPDATE) and has called `require`;
    the check here only keeps a caller's mistake from writing a transition the table lacks.
    """
    allowed_from, to = TRANSITIONS[verb]
    if escalation.status not in allowed_from:
        raise _state_refusal(escalation, verb)
    escalation.status = to


def require(
    escalation: Escalation, verb: Verb, *, user: AbstractBaseUser | None = None, agent: Agent | None = None
) -> None:
    """Raise the refusal of `verb` by this user (a supervisor's verb) or agent (withdraw), if any."""
    refused = refusal(escalation, verb, user=user, agent=agent)
    if refused is not None:
        raise refused


def refusal(
    escalation: Escalation, verb: Verb, *, user: AbstractBaseUser | None = None, agent: Agent | None = None
) -> EscalationError | None:
    """Why `verb` may not be applied now, or None when it may. In the order a person needs to hear it:
    who they are, then the escalation's state, then who holds it."""
    if verb == Verb.WITHDRAW:
        if agent is None or escalation.agent_id != agent.pk:
            return NotAllowed("An agent can only withdraw its own escalations.", escalation=escalation)
    elif user is None or not has_team_role(user, escalation.team_id, Role.SUPERVISOR):
        return team_member_refusal(escalation)
    if escalation.status not in TRANSITIONS[verb][0]:
        return _state_refusal(escalation, verb)
    if verb == Verb.WITHDRAW:
        return None  # the agent's own escalation, whoever holds its claim (and there is no user)
    held_by_another = escalation.status == Status.CLAIMED and escalation.claimed_by_id != user.pk
    if not held_by_another or verb == Verb.CLAIM:
        return None
    if verb == Verb.EXTEND:
        return NotAllowed(
            f"Only {name_of(escalation.claimed_by)}, who claimed it, can extend the claim.",
            escalation=escalation,
        )
    if has_team_role(user, escalation.team_id, Role.OWNER):
        return None  # an owner may release or answer what another holds
    if verb == Verb.RELEASE:
        return NotAllowed(
            f"Only {name_of(escalation.claimed_by)}, who claimed it, or a team owner can release it.",
            escalation=escalation,
        )
    return TransitionRefused(  # respond, dismiss
        f"Claimed by {name_of(escalation.claimed_by)} at {when(escalation.claimed_at)}: "
        "only they or a team owner can answer it.",
        escalation=escalation,
        code="claimed_by_another",
    )


def team_member_refusal(escalation: Escalation) -> NotAllowed:
    return NotAllowed(f"You are not a member of the team {escalation.team.name}.", escalation=escalation)


def require_team_member(user: AbstractBaseUser, escalation: Escalation) -> None:
    if not has_team_role(user, escalation.team_id, Role.SUPERVISOR):
        raise team_member_refusal(escalation)


def require_active(escalation: Escalation) -> None:
    if escalation.is_final:
        raise _closed_refusal(escalation)


def _closed_refusal(escalation: Escalation) -> TransitionRefused:
    return TransitionRefused(
        f"This escalation is already {_closed_by_phrase(escalation)}.",
        escalation=escalation,
        code=f"already_{escalation.status}",
    )


def _state_refusal(escalation: Escalation, verb: Verb) -> TransitionRefused:
    if escalation.is_final:
        return _closed_refusal(escalation)
    if escalation.status == Status.CLAIMED:  # only CLAIM refuses a claimed escalation
        return TransitionRefused(
            f"Already claimed by {name_of(escalation.claimed_by)} at {when(escalation.claimed_at)}.",
            escalation=escalation,
            code="already_claimed",
        )
    return TransitionRefused(  # RELEASE or EXTEND of an open escalation
        f"This escalation is not claimed, so there is nothing to {verb.value}.",
        escalation=escalation,
        code="not_claimed",
    )


def _closed_by_phrase(escalation: Escalation) -> str:
    status = escalation.get_status_display().lower()
    if escalation.closed_automatically:
        return f"{status} automatically (no answer in time) at {when(escalation.closed_at)}"
    who = (
        f"the agent {escalation.agent.name}"
        if escalation.status == Status.WITHDRAWN
        else name_of(escalation.responder)
    )
    return f"{status} by {who} at {when(escalation.closed_at)}"
