"""allowed_verbs offers exactly what the verbs accept: the console's buttons are the services' rules."""

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from escalations import services
from escalations.models import Escalation, Verb
from escalations.selectors import allowed_verbs
from tests import factories

# Each verb as a person applies it; withdraw is the agent's (below).
PERSON_VERBS = {
    Verb.CLAIM: lambda pk, user: services.claim(escalation_id=pk, user=user),
    Verb.RELEASE: lambda pk, user: services.release(escalation_id=pk, user=user),
    Verb.EXTEND: lambda pk, user: services.extend_claim(escalation_id=pk, user=user),
    Verb.RESPOND: lambda pk, user: services.respond(escalation_id=pk, user=user, guidance="Go ahead."),
    Verb.DISMISS: lambda pk, user: services.dismiss(escalation_id=pk, user=user),
}


class RolledBack(Exception):
    pass


def accepted(verb: Verb, escalation: Escalation, user) -> bool:
    """Whether the service accepts the verb now; whatever it wrote is rolled back."""
    try:
        with transaction.atomic():
            PERSON_VERBS[verb](escalation.pk, user)
            raise RolledBack
    except RolledBack:
        return True
    except (services.EscalationError, ValidationError):
        return False


@pytest.mark.parametrize("state", ["open", "claimed by ana", "resolved"])
def test_each_person_is_offered_exactly_the_verbs_the_services_accept(
    state, escalation, ana, bob, olga, outsider
):
    if state != "open":
        services.claim(escalation_id=escalation.pk, user=ana)
    if state == "resolved":
        services.respond(escalation_id=escalation.pk, user=ana, guidance="Done.")
    escalation = Escalation.objects.get(pk=escalation.pk)

    for user in (ana, bob, olga, outsider):
        offered = set(allowed_verbs(escalation, user)) - {Verb.WITHDRAW}
        if state == "claimed by ana" and user == ana:
            # Claiming what you hold is accepted and changes nothing: no button for it.
            assert offered == {Verb.RELEASE, Verb.EXTEND, Verb.RESPOND, Verb.DISMISS}
            continue
        assert offered == {verb for verb in PERSON_VERBS if accepted(verb, escalation, user)}, user


def test_only_the_escalations_own_agent_is_offered_withdraw(escalation, agent, ana):
    other = factories.make_agent(agent.team, "Other Bot")

    assert Verb.WITHDRAW in allowed_verbs(escalation, agent=agent)
    assert Verb.WITHDRAW not in allowed_verbs(escalation, agent=other)
    assert Verb.WITHDRAW not in allowed_verbs(escalation, ana)


def test_the_agent_may_withdraw_an_escalation_a_person_has_claimed(escalation, agent, ana):
    # The agent's view of a claimed escalation (its REST body, the MCP tools) has no user to compare.
    services.claim(escalation_id=escalation.pk, user=ana)
    claimed = Escalation.objects.get(pk=escalation.pk)

    assert allowed_verbs(claimed, agent=agent) == [Verb.WITHDRAW]
    assert services.withdraw(escalation_id=escalation.pk, agent=agent).status == "withdrawn"
