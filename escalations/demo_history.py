"""The demo's last 30 days, so Insights and the rule suggestions have a month to read.

Told through the same services as today's stories (post_message, claim, respond,
dismiss, withdraw), each at its own moment of the past: while the history is
told, `django.utils.timezone.now` returns the seeder's clock (`travelling`).
That is the clock every service, every `auto_now_add` column and every
simple-history row stamps with, so an escalation opened "12 days ago" has its
due times, events, audit rows and messages from then, all consistent, without
a list of columns to rewrite afterwards (a column added later would silently
stay at today). Only Django's clock moves: the process's own (time.time for
presence, monotonic timers, Redis expiries) does not, and no dependency is
needed. The seeder runs alone in its process (runstack seeds before it starts
anything), which is what makes swapping a module function safe here.

What the month holds, the same every time (a fixed random seed; only the dates
follow today):

- Support's chat assistant: plain questions it answers alone (never escalated);
  parcels that arrived damaged, where the customer asks for a person: a person was
  needed every time, so the suggestions page proposes "damaged" as a phrase rule;
  and the noisy rule: "Angry or frustrated customer" fires on frustration the
  assistant handles fine, so ana dismisses most of them as not needed, and Insights
  flags it.
- Billing's refund bot: refunds over $100 (claimed, approved, marked needed) and
  small ones it settles alone.
- The nightly reconciler: a run every night, a few with a total mismatch, resolved
  by ben or withdrawn when a late settlement file closes the gap.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from unittest import mock

from django.utils import timezone

from agents.models import Agent, Channel, EscalationRule, MessageRole

# tell_conversation and say post through post_message and check what fired, as today's stories do.
from escalations import services
from escalations.demo_talk import say, tell_conversation

HISTORY_DAYS = 30
# The nightly runs of the last two days are today's stories (escalations/demo.py).
RECONCILER_HISTORY_FROM = 3
_SEED = 19  # the number: any fixed value makes every seeding tell the same month


class Clock:
    """The seeder's time; `django.utils.timezone.now` returns `now` while travelling."""

    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def at(self, moment: dt.datetime) -> None:
        self.now = moment

    def advance(self, minutes: float) -> None:
        self.now += dt.timedelta(minutes=minutes)


@contextlib.contextmanager
def travelling(start: dt.datetime) -> Iterator[Clock]:
    clock = Clock(start)
    with mock.patch.object(timezone, "now", lambda: clock.now):
        yield clock


@dataclass(frozen=True)
class Cast:
    ana: Any
    ben: Any
    chat_bot: Agent
    refund_bot: Agent
    reconciler: Agent
    rules: dict[str, EscalationRule]


# A story: (cast, clock, rng, number) -> None, told from the clock's moment on, within an hour.
Story = Callable[[Cast, Clock, random.Random, int], None]


def tell(cast: Cast, *, today: dt.date) -> None:
    """The month before `today`, oldest first. Call inside atomic, before today's stories."""
    rng = random.Random(_SEED)
    number = 0
    first_day = dt.datetime.combine(today, dt.time(), tzinfo=dt.UTC) - dt.timedelta(days=HISTORY_DAYS)
    with travelling(first_day) as clock:
        for days_ago in range(HISTORY_DAYS, 0, -1):
            day = dt.datetime.combine(today - dt.timedelta(days=days_ago), dt.time(), tzinfo=dt.UTC)
            for hour, story in _day_plan(days_ago, rng):
                number += 1
                # Stories an hour apart at least, each over within the hour: every row is
                # written in time order, so ids and timestamps agree (the event feed's cursor).
                clock.at(day + dt.timedelta(hours=hour, minutes=rng.randint(0, 20)))
                story(cast, clock, rng, number)


def _day_plan(days_ago: int, rng: random.Random) -> list[tuple[int, Story]]:
    """(UTC hour, story) of one day, in time order."""
    plan: list[tuple[int, Story]] = []
    if days_ago >= RECONCILER_HISTORY_FROM:
        # Every night at 02:00 UTC; about one night in seven the totals disagree.
        plan.append((2, _mismatch_run if days_ago % 7 == 3 else _clean_run))
    stories: list[Story] = [_plain_question, _plain_question, _small_refund]
    if days_ago % 3 == 0:
        stories.append(_damaged_parcel)
    if days_ago % 3 != 0:
        stories.append(_frustrated_but_handled)
    if days_ago % 5 == 2:
        stories.append(_angry_and_needed)
    if days_ago % 3 != 2:
        stories.append(_big_refund)
    if days_ago % 2 == 0:
        stories.append(_plain_question)
    rng.shuffle(stories)
    # 10:00-18:00 UTC, one story an hour; a morning's mismatch is answered before 10.
    hours = sorted(rng.sample(range(10, 19), len(stories)))
    plan.extend(zip(hours, stories, strict=True))
    return plan


# --- The stories --------------------------------------------------------------------

USER, AGENT, SYSTEM = MessageRole.USER, MessageRole.AGENT, MessageRole.SYSTEM

CUSTOMERS = [
    "Aisha Khan", "Bruno Costa", "Chloe Martin", "Daniel Kim", "Elif Yilmaz", "Finn Murphy",
    "Grace Liu", "Hugo Lefebvre", "Ines Santos", "Jonas Berg", "Keiko Sato", "Liam O'Brien",
    "Maya Cohen", "Nils Andersson", "Olivia Rossi", "Pedro Alves", "Quinn Taylor", "Rosa Diaz",
]  # fmt: skip

PLAIN_QUESTIONS = [
    ("Where is my order #{order}? It was due yesterday.",
     "Order #{order} left the depot this morning and arrives today before 6 pm."),
    ("Does the WINTER20 code work on sale items?",
     "WINTER20 works on everything except items already reduced, sorry."),
    ("How do I return a jacket that doesn't fit?",
     "Start the return from your orders page; the label is free and the refund follows in 5 days."),
    ("Can I change the size on order #{order} before it ships?",
     "Done: order #{order} now has size M and still ships tomorrow."),
    ("Do you deliver to Switzerland?",
     "Yes, in 3-5 working days; customs fees are shown at checkout."),
    ("I forgot my password, how do I reset it?",
     "Use 'Forgot password' on the login page; the link arrives within a minute."),
    ("Can I add gift wrapping to order #{order}?",
     "Gift wrapping is added to order #{order} for $4."),
    ("When will the blue sofa cushions be back in stock?",
     "They are expected on the 20th; I can email you when they are back."),
]  # fmt: skip

DAMAGED = [
    ("Order #{order} arrived damaged: the lamp base is cracked. Can I speak to a real person please?"),
    ("The kettle from order #{order} arrived damaged, the lid is broken. I'd like to talk to a human."),
    ("My mirror arrived damaged, the glass is shattered (order #{order}). Please put me through to "
     "someone from staff."),
    ("Order #{order} arrived damaged again, two plates are chipped. I want to speak to a manager."),
]  # fmt: skip

FRUSTRATED = [
    ("The tracking page hasn't updated in three days, this is so annoying and useless.",
     "Sorry about that: order #{order} is with the courier and arrives tomorrow morning."),
    ("Seriously? The checkout keeps failing, this is terrible and frustrating.",
     "I'm sorry. That error clears if you remove and re-add the card; I've kept your basket."),
    ("Ugh, the app crashed again and lost my basket. Awful.",
     "Sorry! Your basket is saved to your account; it's back when you log in again."),
]  # fmt: skip

ANGRY = [
    ("This is the third late delivery this month. I'm furious, your service is terrible.",
     "I'm sorry. I've passed this to a colleague who can look at compensation."),
    ("Absolutely unacceptable, nobody answers my emails and I'm really angry.",
     "I'm sorry. A colleague will look at your case now."),
]  # fmt: skip


# Small and big refunds are asked for in the same words: only the amount tells them apart,
# which the amount rule reads, so the suggestions page finds no word to propose for them.
REFUND_ASKS = [
    "I returned order #{order} last week, please refund the ${amount} to my card.",
    "Hello, please refund the ${amount} for order #{order}, I sent it back on Monday.",
    "Order #{order} was cancelled but I was charged. Please refund ${amount}.",
]


def _order(number: int) -> int:
    return 101000 + number


def _customer(rng: random.Random) -> str:
    return rng.choice(CUSTOMERS)


def _plain_question(cast: Cast, clock: Clock, rng: random.Random, number: int) -> None:
    question, answer = rng.choice(PLAIN_QUESTIONS)
    order = _order(number)
    chat, _ = tell_conversation(
        cast.chat_bot, f"chat-h{number:04d}", Channel.CHAT, "Question",
        [(USER, question.format(order=order))],
        metadata={"customer": _customer(rng)}, fires=None,
    )  # fmt: skip
    clock.advance(rng.uniform(0.5, 2))
    say(chat, AGENT, answer.format(order=order))


def _damaged_parcel(cast: Cast, clock: Clock, rng: random.Random, number: int) -> None:
    order = _order(number)
    chat, escalation = tell_conversation(
        cast.chat_bot, f"chat-h{number:04d}", Channel.CHAT, "Arrived damaged",
        [(USER, rng.choice(DAMAGED).format(order=order))],
        metadata={"customer": _customer(rng), "order": f"#{order}"}, fires=cast.rules["chat_person"],
    )  # fmt: skip
    clock.advance(rng.uniform(2, 12))
    services.claim(escalation_id=escalation.pk, user=cast.ana, reason="Checking the photos")
    clock.advance(rng.uniform(4, 20))
    services.respond(
        escalation_id=escalation.pk,
        user=cast.ana,
        guidance=f"Send a free replacement for order #{order} today and a prepaid label for the damaged one.",
        needed=True,
    )
    clock.advance(1)
    say(chat, AGENT, "A replacement is on its way today, with a free label for the damaged one.")


def _frustrated_but_handled(cast: Cast, clock: Clock, rng: random.Random, number: int) -> None:
    """The noisy rule: the assistant had it in hand; the card only interrupted ana."""
    complaint, answer = rng.choice(FRUSTRATED)
    order = _order(number)
    chat, escalation = tell_conversation(
        cast.chat_bot, f"chat-h{number:04d}", Channel.CHAT, "Frustrated",
        [(USER, complaint)],
        metadata={"customer": _customer(rng), "order": f"#{order}"}, fires=cast.rules["angry"],
    )  # fmt: skip
    clock.advance(rng.uniform(3, 15))
    services.dismiss(
        escalation_id=escalation.pk,
        user=cast.ana,
        note="The assistant has this: a known glitch with a known answer.",
        needed=False,
    )
    clock.advance(1)
    say(chat, AGENT, answer.format(order=order))


def _angry_and_needed(cast: Cast, clock: Clock, rng: random.Random, number: int) -> None:
    complaint, answer = rng.choice(ANGRY)
    chat, escalation = tell_conversation(
        cast.chat_bot, f"chat-h{number:04d}", Channel.CHAT, "Complaint",
        [(USER, complaint)],
        metadata={"customer": _customer(rng)}, fires=cast.rules["angry"],
    )  # fmt: skip
    clock.advance(rng.uniform(2, 10))
    services.claim(escalation_id=escalation.pk, user=cast.ana, reason="Looking at the order history")
    clock.advance(rng.uniform(5, 25))
    services.respond(
        escalation_id=escalation.pk,
        user=cast.ana,
        guidance="Apologise, refund the delivery fees of the late orders and offer 15% off the next one.",
        needed=True,
    )
    clock.advance(1)
    say(chat, AGENT, answer)


def _small_refund(cast: Cast, clock: Clock, rng: random.Random, number: int) -> None:
    amount = rng.choice([19, 24.5, 36, 48, 65, 79.99, 92])
    thread, _ = tell_conversation(
        cast.refund_bot, f"<h{number:04d}@mail.example.net>", Channel.EMAIL, "Refund request",
        [(USER, rng.choice(REFUND_ASKS).format(order=_order(number), amount=amount))],
        metadata={"customer": _customer(rng)}, fires=None,
    )  # fmt: skip
    clock.advance(rng.uniform(1, 5))
    say(thread, AGENT, f"Refunded ${amount} to your card; it shows within 3-5 working days.")


def _big_refund(cast: Cast, clock: Clock, rng: random.Random, number: int) -> None:
    amount = rng.choice([129.99, 149, 180, 240, 310, 455])
    supervisor = cast.ben if number % 3 else cast.ana
    thread, escalation = tell_conversation(
        cast.refund_bot, f"<h{number:04d}@mail.example.net>", Channel.EMAIL, "Refund request",
        [(USER, rng.choice(REFUND_ASKS).format(order=_order(number), amount=amount))],
        metadata={"customer": _customer(rng)}, fires=cast.rules["big_refund"],
    )  # fmt: skip
    clock.advance(rng.uniform(3, 25))
    services.claim(escalation_id=escalation.pk, user=supervisor, reason="Checking the return")
    clock.advance(rng.uniform(5, 30))
    services.respond(
        escalation_id=escalation.pk,
        user=supervisor,
        guidance=f"The warehouse has the return: approve the ${amount} refund.",
        # Most are marked; a few are left unmarked, as in a real month.
        needed=True if number % 4 else None,
    )
    clock.advance(1)
    say(thread, AGENT, f"Your refund of ${amount} is approved and on its way to your card.")


def _run(cast: Cast, clock: Clock, number: int, lines: list[tuple[MessageRole, str]], fires: Any):
    day = clock.now.date() - dt.timedelta(days=1)
    return tell_conversation(
        cast.reconciler, f"reconcile-{day}", Channel.CRON, f"Nightly reconciliation for {day}",
        [(SYSTEM, f"Reconcile invoices dated {day} against settlement-{day}.csv."), *lines],
        fires=fires,
    )  # fmt: skip


def _clean_run(cast: Cast, clock: Clock, rng: random.Random, number: int) -> None:
    total = rng.randint(1180, 1340)
    _run(cast, clock, number, [(AGENT, f"Matched {total:,} of {total:,} invoices. No corrections needed.")],
         None)  # fmt: skip


def _mismatch_run(cast: Cast, clock: Clock, rng: random.Random, number: int) -> None:
    invoice = 205000 + number
    run, escalation = _run(
        cast, clock, number,
        [(AGENT, f"INV-{invoice}: total mismatch: ledger $980.00, settlement $890.00 (difference $90.00). "
                 "Not correcting the ledger; needs review.")],
        cast.rules["mismatch"],
    )  # fmt: skip
    if number % 2:
        # Overnight, nobody on duty: the late file closed the gap before anyone looked.
        clock.advance(40)
        services.withdraw(
            escalation_id=escalation.pk,
            agent=cast.reconciler,
            reason=f"A late settlement file covered the $90.00; INV-{invoice} reconciles.",
        )
    else:
        # Billing opens at 09:00 Paris (08:00 UTC): ben takes it with his first coffee.
        clock.at(clock.now.replace(hour=8, minute=rng.randint(5, 40)))
        services.claim(escalation_id=escalation.pk, user=cast.ben, reason="Checking the bank statement")
        clock.advance(rng.uniform(5, 20))
        services.respond(
            escalation_id=escalation.pk,
            user=cast.ben,
            guidance=f"The bank charged a $90.00 fee: book it to fees and mark INV-{invoice} reconciled.",
            needed=True,
        )
    clock.advance(1)
    say(run, AGENT, f"INV-{invoice} reconciled.")
