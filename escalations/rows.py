"""The shared steps of every transition: lock the rows, save them with their history row, and
the guarded UPDATE that saves a timer's batch. The verbs (escalations/services.py) call these;
none of them decides anything.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import models
from django.utils import timezone

from agents.models import Conversation, ConversationStatus
from escalations.errors import EscalationError
from escalations.models import ACTIVE_STATUSES, Escalation


def lock_due(due, escalation_ids: list[int]) -> list[Escalation]:
    """Those of `escalation_ids` still in `due`, locked (skipping rows another transaction holds), then
    read with everything their events show. Two queries for the lot. Call inside atomic.

    Lock, then read: see lock_then_read. The user columns are joined here, unlike in a
    person's transition, because a batch would otherwise load them one query per row.
    """
    pks = list(
        due.filter(pk__in=escalation_ids).select_for_update(skip_locked=True).values_list("pk", flat=True)
    )
    if not pks:
        return []
    rows = with_relations(Escalation.objects).select_related("assigned_to", "claimed_by", "responder")
    return list(rows.filter(pk__in=pks).order_by("pk"))


def with_relations(queryset):
    # Only what every transition reads. The user columns are mostly empty and
    # load on first use: joining all seven relations cost PostgreSQL ~4 ms of
    # planning per transition.
    return queryset.select_related("agent", "team", "conversation", "rule")


def lock_then_read(queryset) -> Escalation | None:
    """Lock the first matching row, then read it with its relations. Call inside atomic.

    Two steps on purpose: on PostgreSQL a locked read that waited for another
    transaction re-checks the locked row but not rows joined to it, so a
    select_related done in the same query can return the winner's claimed_by
    as None ("claimed by someone").
    """
    pk = queryset.select_for_update().values_list("pk", flat=True).first()
    return None if pk is None else with_relations(Escalation.objects).get(pk=pk)


def lock_active_escalation_of(conversation: Conversation) -> Escalation | None:
    return lock_then_read(Escalation.objects.filter(conversation=conversation, status__in=ACTIVE_STATUSES))


def lock(escalation_id: int, *, conversation_first: bool = False) -> Escalation:
    """Call inside atomic. `conversation_first`: for a verb that may resume the conversation."""
    if conversation_first:
        with_conversation_locked(Escalation.objects.all(), [escalation_id], skip_locked=False)
    escalation = lock_then_read(Escalation.objects.filter(pk=escalation_id))
    if escalation is None:
        raise EscalationError(f"There is no escalation #{escalation_id}.")
    return escalation


def with_conversation_locked(queryset, escalation_ids: list[int], *, skip_locked: bool = True) -> list[int]:
    """Lock the conversations the blocking ones of `escalation_ids` pause, before the escalations;
    returns the ids whose conversation is now ours (or that pause none). Call inside atomic.

    The order open_escalation and post_message take them in (the conversation, then its active
    escalation): in the other order an answer holding the escalation and a user's message holding
    the conversation deadlock on PostgreSQL (bench/soak.py). With `skip_locked`, one that another
    transaction holds is left out, for the next sweep. Two queries for the lot.
    """
    rows = list(queryset.filter(pk__in=escalation_ids).values_list("pk", "conversation_id", "blocking"))
    paused = {conversation_id for _, conversation_id, blocking in rows if blocking}
    locked = set(
        Conversation.objects.filter(pk__in=paused)
        .select_for_update(skip_locked=skip_locked)
        .values_list("pk", flat=True)
    )
    return [pk for pk, conversation_id, blocking in rows if not blocking or conversation_id in locked]


# Got once: simple-history's descriptor builds a new manager class on every access of
# Escalation.history (inspect.getmembers over QuerySet: ~0.2 ms, bench/profile_requests.py).
ESCALATION_HISTORY = Escalation.history


def insert_with_history(escalation: Escalation, *, user: AbstractBaseUser | None, reason: str) -> None:
    """Insert a new escalation, with the history row that names who opened it and why. Call inside atomic.

    The history row is written here rather than by simple-history's post_save handler, which
    goes through that descriptor and saves the row with save()'s signals: the same row ("+",
    the user, the reason, every tracked field), for less CPU.
    """
    escalation.skip_history_when_saving = True
    escalation.save(force_insert=True)
    del escalation.skip_history_when_saving
    escalation._history_user = user
    escalation._change_reason = reason
    ESCALATION_HISTORY.bulk_history_create([escalation], default_date=timezone.now())
    del escalation._history_user, escalation._change_reason


# Every column a transition may change: what save_with_history writes unless told fewer.
SAVED_FIELDS = [
    field.name
    for field in Escalation._meta.concrete_fields
    if not field.primary_key and not field.generated and field.name not in ("created_at", "updated_at")
]


def save_with_history(
    changes: list[tuple[Escalation, str]],
    *,
    user: AbstractBaseUser | None,
    fields: list[str] | None = None,
    guard=None,
) -> None:
    """Save changed escalations, one history row each naming who acted and why. Call inside atomic.

    The one way an escalation's change is saved: a person's verb saves a list of one,
    a timer its batch; one UPDATE and one history INSERT either way. `fields`: the
    columns that changed (default: all). `guard`: see update_guarded.
    """
    if not changes:
        return
    now = timezone.now()
    escalations = [escalation for escalation, _ in changes]
    for escalation, reason in changes:
        escalation.updated_at = now  # bulk_update does not apply auto_now
        # Set even when None: unset, simple-history would take the request's user instead.
        escalation._history_user = user
        escalation._change_reason = reason
    update_guarded(guard, escalations, [*(fields or SAVED_FIELDS), "updated_at"])
    ESCALATION_HISTORY.bulk_history_create(escalations, update=True, default_date=now)
    for escalation in escalations:
        del escalation._history_user, escalation._change_reason


def update_guarded(guard, escalations: list[Escalation], fields: list[str]) -> None:
    """One UPDATE of these columns of these escalations. Call inside atomic.

    A column every row sets to the same value (a batch's breach time, its status) is set
    as that value; only a column whose values differ gets a CASE on the id. Django's
    bulk_update builds a CASE for every column, and compiling those was most of a
    timer batch's CPU time (bench/README.md).

    `guard` (a queryset: a timer's due condition) is repeated in the UPDATE's WHERE:
    the rows are locked and re-checked, so it always matches; should a row have
    changed anyway, the batch is rolled back rather than half-written.
    """
    if not escalations:
        return
    values = {}
    for name in fields:
        field = Escalation._meta.get_field(name)
        column = [(escalation.pk, getattr(escalation, field.attname)) for escalation in escalations]
        first = column[0][1]
        if all(value == first for _, value in column):
            values[field.attname] = first
        else:
            whens = [models.When(pk=pk, then=models.Value(value, output_field=field)) for pk, value in column]
            values[field.attname] = models.Case(*whens, output_field=field)
    rows = Escalation.objects if guard is None else guard
    updated = rows.filter(pk__in=[escalation.pk for escalation in escalations]).update(**values)
    if updated != len(escalations):
        raise EscalationError(
            f"{len(escalations) - updated} of {len(escalations)} escalations changed under the lock; "
            "nothing was written."
        )


def set_conversation_status(conversations: list[Conversation], status: ConversationStatus) -> None:
    if not conversations:
        return
    Conversation.objects.filter(pk__in=[c.pk for c in conversations]).update(
        status=status, updated_at=timezone.now()
    )
    for conversation in conversations:
        conversation.status = status


def resume_conversations(escalations: list[Escalation]) -> None:
    """A blocking escalation's answer un-pauses its conversation (unless it was closed meanwhile)."""
    waiting = [
        e.conversation
        for e in escalations
        if e.blocking and e.conversation.status == ConversationStatus.AWAITING_HUMAN
    ]
    set_conversation_status(waiting, ConversationStatus.ACTIVE)
