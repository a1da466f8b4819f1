"""A supervisor marks an escalation needed or not needed: any time, changeable, audited."""

import pytest
from django.core.exceptions import ValidationError

from escalations import services
from escalations.models import Escalation, Event, EventType


def fresh(escalation) -> Escalation:
    return Escalation.objects.get(pk=escalation.pk)


def test_marking_sets_the_verdict_who_and_when_with_one_history_row_and_an_event(escalation, ana):
    rows_before = escalation.history.count()
    services.mark_needed(escalation_id=escalation.pk, user=ana, needed=False)
    marked = fresh(escalation)
    assert (marked.needed, marked.marked_by, marked.marked_at is not None) == (False, ana, True)
    assert escalation.history.count() == rows_before + 1
    newest = escalation.history.order_by("-history_id").first()
    assert (newest.history_user, newest.history_change_reason) == (ana, "Marked not needed")
    assert newest.needed is False
    event = Event.objects.filter(escalation=escalation).order_by("-id").first()
    assert event.type == EventType.UPDATED
    assert event.payload["changes"] == {"needed": [None, False]}
    assert event.payload["escalation"]["needed"] is False


def test_it_can_be_changed_later_and_the_same_verdict_twice_writes_nothing(escalation, ana, bob):
    services.dismiss(escalation_id=escalation.pk, user=ana)
    services.mark_needed(escalation_id=escalation.pk, user=ana, needed=False)
    rows = escalation.history.count()
    services.mark_needed(escalation_id=escalation.pk, user=ana, needed=False)
    assert escalation.history.count() == rows
    services.mark_needed(escalation_id=escalation.pk, user=bob, needed=True)
    marked = fresh(escalation)
    assert (marked.needed, marked.marked_by) == (True, bob)
    assert escalation.history.count() == rows + 1


def test_answering_can_carry_the_verdict_in_the_same_audit_row(escalation, ana):
    rows = escalation.history.count()
    services.respond(escalation_id=escalation.pk, user=ana, guidance="Refund it.", needed=True)
    assert escalation.history.count() == rows + 1
    assert (fresh(escalation).needed, fresh(escalation).marked_by) == (True, ana)


def test_an_outsider_may_not_mark(escalation, outsider):
    with pytest.raises(services.NotAllowed):
        services.mark_needed(escalation_id=escalation.pk, user=outsider, needed=True)
    assert fresh(escalation).needed is None


def test_anything_but_a_boolean_is_refused(escalation, ana):
    with pytest.raises(ValidationError):
        services.mark_needed(escalation_id=escalation.pk, user=ana, needed="yes")
