"""Learning from supervisors' answers: a rule's marked escalations as proposed changes to the rule.

For a rule, the escalations it opened (Escalation.rule) that a supervisor marked
needed or not needed are its labelled history. Each one's trigger message (the
message of the rule's first evidence item) becomes a suggestion:

- intent rules: needed → a `should` example, not needed → a `should_not` example;
- rules matched on the message's words (phrases, amount, regex, asks for a human):
  not needed → an exception phrase. A *needed* message there is already a hit and
  proposes nothing.

Exception phrases, not semantic exception examples, because an admin can read a
phrase, predict what it blocks, and see it in the what-if bench; and it works on
every one of those kinds without an embedding model. The phrase is chosen among
the message's two-word phrases (supervisors.suggestions.terms, as the insights'
exception candidates) that have a word of their own: the one that blocks no
needed message of the history and the most not-needed ones, preferring one
beside a word of the rule's phrases (the context around what fired).

Nothing changes the rule until a contributor accepts (accept_suggestion), and
the change goes through agents.services.rule_update: validated like any edit,
the matcher's version stamp bumped, and a history row naming who and which
escalation (the audit). A dismissed suggestion stays dismissed (RuleSuggestion).

Precision before and after: the rule as it is now, and with the suggestion
applied, re-run through the real compiler (compile_rules) on the labelled
trigger messages; precision = needed among those it fires on.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction

from agents.engine.cache import spec_of
from agents.engine.matcher import Matcher, MessageView, RuleSpec, compile_rules
from agents.engine.text import normalise, phrase_problem
from agents.models import (
    EscalationRule,
    Message,
    RuleKind,
    RuleSuggestion,
    SuggestionDecision,
    SuggestionTarget,
)
from agents.services import rule_update
from escalations.models import Escalation
from supervisors.models import Role
from supervisors.selectors import has_team_role
from supervisors.suggestions import STOPWORDS, WORD, terms

# The most recent marked escalations read per rule: bounds the page's time (every
# suggestion shown re-runs its changed rule on all of them; bench/learning.py).
MAX_LABELLED = 500
# Suggestions shown per rule, most recent verdict first; the rest wait their turn.
MAX_SUGGESTIONS = 20
# Kinds whose hit is decided by the newest message's words: an exception phrase can stop them.
EXCEPTION_KINDS = frozenset({RuleKind.PHRASES, RuleKind.AMOUNT, RuleKind.REGEX, RuleKind.ASKS_FOR_HUMAN})
EXAMPLE_KINDS = frozenset({RuleKind.INTENT})


class SuggestionGone(Exception):
    """The suggestion answered is no longer the one on offer (HTTP 409): answered by someone
    else, its verdict changed, or its proposal changed since the page was drawn."""

    code = "suggestion_gone"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Labelled:
    """One marked escalation of the rule, by its trigger message."""

    escalation_id: int
    message_id: int
    role: str
    text: str
    needed: bool
    marked_by: str
    marked_at: dt.datetime | None


@dataclass(frozen=True)
class Precision:
    """What a version of the rule fires on among the labelled trigger messages."""

    needed_fired: int
    needed: int
    not_needed_fired: int
    not_needed: int

    @property
    def fired(self) -> int:
        return self.needed_fired + self.not_needed_fired

    @property
    def precision(self) -> float | None:
        return self.needed_fired / self.fired if self.fired else None

    @property
    def recall(self) -> float | None:
        """Of the needed ones, how many it still catches (the cost of an exception)."""
        return self.needed_fired / self.needed if self.needed else None


@dataclass(frozen=True)
class Suggestion:
    rule_id: int
    escalation_id: int
    target: str  # a SuggestionTarget value
    text: str  # the example to add, or the exception phrase
    message: str  # the trigger message, in full
    needed: bool
    marked_by: str
    marked_at: dt.datetime | None
    before: Precision | None = None
    after: Precision | None = None

    @property
    def target_label(self) -> str:
        return SuggestionTarget(self.target).label

    @property
    def answer(self) -> dict[str, Any]:
        """How accept_suggestion and dismiss_suggestion name this suggestion (add the user)."""
        return {
            "rule_id": self.rule_id,
            "escalation_id": self.escalation_id,
            "target": self.target,
            "text": self.text,
        }


@dataclass
class Learning:
    """A rule's labelled history, its precision on it now, and the open suggestions."""

    rule: EscalationRule
    learns: bool  # False: the rule's kind takes no examples or exceptions from verdicts
    labelled: int
    before: Precision
    suggestions: list[Suggestion] = field(default_factory=list)
    pending: int = 0  # all open suggestions, of which `suggestions` are the first MAX_SUGGESTIONS


# --- Reading ---------------------------------------------------------------------------------


def labelled_history(rule: EscalationRule) -> list[Labelled]:
    """The rule's marked escalations (most recently marked first), each by its trigger message.

    An escalation without evidence of this rule naming a stored message (e.g. one whose
    rule was re-pointed by hand) is left out: there is nothing to learn from.
    """
    rows = list(
        Escalation.objects.filter(rule=rule, needed__isnull=False)
        .order_by("-marked_at", "-pk")
        .values_list("pk", "needed", "evidence", "marked_by__username", "marked_at")[:MAX_LABELLED]
    )
    trigger_of: dict[int, int] = {}
    for escalation_id, _needed, evidence, _by, _at in rows:
        for item in evidence or []:
            if isinstance(item, dict) and item.get("rule_id") == rule.pk and item.get("message_id"):
                trigger_of[escalation_id] = item["message_id"]  # the first: the one that opened it
                break
    messages = {
        pk: (role, content)
        for pk, role, content in Message.objects.filter(pk__in=set(trigger_of.values())).values_list(
            "pk", "role", "content"
        )
    }
    found = []
    for escalation_id, needed, _evidence, by, at in rows:
        message_id = trigger_of.get(escalation_id)
        if message_id in messages:
            role, content = messages[message_id]
            found.append(Labelled(escalation_id, message_id, role, content, needed, by or "", at))
    return found


def _tally(labelled: list[Labelled], fired: set[int]) -> Precision:
    hits = [item for item in labelled if item.escalation_id in fired]
    return Precision(
        needed_fired=sum(1 for item in hits if item.needed),
        needed=sum(1 for item in labelled if item.needed),
        not_needed_fired=sum(1 for item in hits if not item.needed),
        not_needed=sum(1 for item in labelled if not item.needed),
    )


def _fires(matcher: Matcher, item: Labelled) -> bool:
    # The trigger message alone: the kinds that learn here decide on the newest message only.
    return bool(matcher.evaluate([MessageView(role=item.role, content=item.text, id=item.message_id)]))


def suggestions_for(rule: EscalationRule, *, with_precision: bool = True) -> Learning:
    """The rule's open suggestions (not yet in the rule, not answered), most recent verdict first."""
    found = _open_suggestions(rule)
    learning = Learning(
        rule=rule,
        learns=rule.kind in EXCEPTION_KINDS or rule.kind in EXAMPLE_KINDS,
        labelled=len(found.labelled),
        before=found.before,
        pending=len(found.waiting),
    )
    # The proposals are worked out for the shown ones only: a busy rule can have hundreds
    # waiting. Rarely a message yields none (no usable phrase): the next ones fill in.
    rest = list(found.waiting)
    while rest and len(learning.suggestions) < MAX_SUGGESTIONS:
        take = MAX_SUGGESTIONS - len(learning.suggestions)
        batch, rest = rest[:take], rest[take:]
        made = [s for s in _proposals(rule, batch, found) if s is not None]
        learning.pending -= len(batch) - len(made)
        learning.suggestions.extend(made)
    if with_precision:
        learning.suggestions = _with_precision(learning.suggestions, rule=rule, found=found)
    return learning


@dataclass(frozen=True)
class _Open:
    labelled: list[Labelled]
    fired_now: set[int]  # escalation ids whose trigger message the rule fires on today
    before: Precision
    waiting: list[tuple[Labelled, SuggestionTarget]]  # unanswered lessons, one per message text


def _open_suggestions(rule: EscalationRule) -> _Open:
    labelled = labelled_history(rule)
    current = compile_rules([spec_of(rule)])
    fired_now = {item.escalation_id for item in labelled if _fires(current, item)}
    before = _tally(labelled, fired_now)
    waiting: list[tuple[Labelled, SuggestionTarget]] = []
    if rule.kind not in EXCEPTION_KINDS and rule.kind not in EXAMPLE_KINDS:
        return _Open(labelled, fired_now, before, waiting)
    answered: dict[int, set[str]] = {}
    answers = RuleSuggestion.objects.filter(rule=rule).values_list("escalation_id", "target")
    for escalation_id, target in answers:
        answered.setdefault(escalation_id, set()).add(target)
    contested = _contested_texts(labelled)
    # (target, message) pairs answered or already waiting: the same message marked twice the
    # same way is one suggestion, and answering it on one escalation answers it on all.
    seen = {(target, _key(item.text)) for item in labelled for target in answered.get(item.escalation_id, ())}
    for item in labelled:
        if _key(item.text) in contested:
            continue  # marked needed once and not needed another time: no lesson to draw
        target = _target(rule, item, fired_now)
        if target is None or (target.value, _key(item.text)) in seen:
            continue
        seen.add((target.value, _key(item.text)))
        waiting.append((item, target))
    return _Open(labelled, fired_now, before, waiting)


def _key(text: str) -> str:
    return " ".join(normalise(text).split())


def _contested_texts(labelled: list[Labelled]) -> set[str]:
    verdicts: dict[str, set[bool]] = {}
    for item in labelled:
        verdicts.setdefault(_key(item.text), set()).add(item.needed)
    return {text for text, seen in verdicts.items() if len(seen) > 1}


def _target(rule: EscalationRule, item: Labelled, fired_now: set[int]) -> SuggestionTarget | None:
    """What this verdict would change in the rule; None when it teaches the rule nothing."""
    if rule.kind in EXAMPLE_KINDS:
        target = SuggestionTarget.SHOULD if item.needed else SuggestionTarget.SHOULD_NOT
        examples = (rule.parameters or {}).get(target.value, [])
        if not item.text.strip() or _key(item.text) in {_key(e) for e in examples if isinstance(e, str)}:
            return None
        return target
    if item.needed or item.escalation_id not in fired_now:
        return None  # a needed hit is right already; a message it no longer fires on is settled
    return SuggestionTarget.EXCEPTION_PHRASE


def _proposals(
    rule: EscalationRule, items: list[tuple[Labelled, SuggestionTarget]], found: _Open
) -> list[Suggestion | None]:
    """The suggestion of each (item, target); None where an exception has no usable phrase."""
    phrases = _exception_phrases(
        rule, [item for item, target in items if target == SuggestionTarget.EXCEPTION_PHRASE], found
    )
    made: list[Suggestion | None] = []
    for item, target in items:
        if target == SuggestionTarget.EXCEPTION_PHRASE:
            text = phrases.get(item.escalation_id)
        else:
            text = " ".join(item.text.split())
        made.append(
            None
            if text is None
            else Suggestion(
                rule_id=rule.pk,
                escalation_id=item.escalation_id,
                target=target.value,
                text=text,
                message=item.text,
                needed=item.needed,
                marked_by=item.marked_by,
                marked_at=item.marked_at,
            )
        )
    return made


def _exception_phrases(rule: EscalationRule, items: list[Labelled], found: _Open) -> dict[int, str | None]:
    """Per item (by escalation id), the message's two-word phrase with a word of its own (not
    the rule's, not a stopword) that, as an exception, blocks no needed message the rule fires
    on now and the most not-needed ones; ties go to one beside a word of the rule's phrases,
    then one with fewer stopwords, then the shorter. None: no usable two-word phrase."""
    if not items:
        return {}
    have = {_key(p) for p in [*(rule.exception_phrases or []), *_rule_phrases(rule)]}
    words = {word.lower() for phrase in _rule_phrases(rule) for word in WORD.findall(phrase)}
    candidates_of = {
        item.escalation_id: {
            term
            for term in terms(item.text)
            if " " in term
            and not phrase_problem(term)
            and _key(term) not in have
            # A word the rule does not have ("policy" beside "money back") carries the
            # difference; "the money" is only the rule's own words again, and would block
            # nearly everything the rule is for.
            and set(term.split()) - words - STOPWORDS
        }
        for item in items
    }
    every = sorted(set().union(*candidates_of.values()))
    # One matcher with each candidate as a phrases rule of its own tells, per message, which
    # candidates it contains (the same phrase matching as exceptions): one pass over the
    # history for all the suggestions shown, rather than one each.
    probe = compile_rules(
        [
            RuleSpec(
                id=index,
                name=term,
                kind=RuleKind.PHRASES,
                parameters={"phrases": [term]},
                reason_template="",
                applies_to="both",
            )
            for index, term in enumerate(every)
        ]
    )

    def contains(text: str) -> set[str]:
        return {every[hit.rule_id] for hit in probe.evaluate([MessageView(role="user", content=text)])}

    needed_lost: Counter[str] = Counter()
    not_needed_blocked: Counter[str] = Counter()
    for other in found.labelled:
        if other.escalation_id in found.fired_now:
            (needed_lost if other.needed else not_needed_blocked).update(contains(other.text))

    def rank(term: str) -> tuple:
        own = set(term.split())
        return (
            needed_lost[term],
            -not_needed_blocked[term],
            not (own & words),
            sum(word in STOPWORDS for word in term.split()),  # "question for" says less
            len(term),
            term,
        )

    chosen: dict[int, str | None] = {}
    for item in items:
        usable = candidates_of[item.escalation_id] & contains(item.text)
        chosen[item.escalation_id] = min(usable, key=rank) if usable else None
    return chosen


def _rule_phrases(rule: EscalationRule) -> list[str]:
    params = rule.parameters or {}
    key = "extra_phrases" if rule.kind == RuleKind.ASKS_FOR_HUMAN else "phrases"
    phrases = params.get(key, [])
    return [p for p in phrases if isinstance(p, str)]


def _applied(rule: EscalationRule, target: str, text: str) -> dict[str, Any]:
    """The rule fields with the suggestion in: the `data` of rule_update."""
    if target == SuggestionTarget.EXCEPTION_PHRASE:
        return {"exception_phrases": [*(rule.exception_phrases or []), text]}
    parameters = copy.deepcopy(rule.parameters or {})
    other = SuggestionTarget.SHOULD_NOT if target == SuggestionTarget.SHOULD else SuggestionTarget.SHOULD
    # A verdict that changed moves the example across rather than leaving it on both sides.
    parameters[other.value] = [e for e in parameters.get(other.value, []) if _key(str(e)) != _key(text)]
    parameters[target] = [*parameters.get(target, []), text]
    return {"parameters": parameters}


def _with_precision(suggestions: list[Suggestion], *, rule: EscalationRule, found: _Open) -> list[Suggestion]:
    """Each suggestion with the rule's precision before and after it, the changed rule re-run
    through the real compiler on the labelled trigger messages.

    Every changed version is compiled as its own rule of one matcher (rules are evaluated
    independently), so a labelled message is evaluated once for all of them.
    """
    versions = []
    for index, suggestion in enumerate(suggestions):
        changed = copy.copy(rule)  # not saved: a what-if of the rule with the suggestion in
        for name, value in _applied(rule, suggestion.target, suggestion.text).items():
            setattr(changed, name, value)
        versions.append(replace(spec_of(changed), id=index))
    matcher = compile_rules(versions)
    fired: dict[int, set[int]] = {index: set() for index in range(len(suggestions))}
    for item in found.labelled:
        view = MessageView(role=item.role, content=item.text, id=item.message_id)
        for hit in matcher.evaluate([view]):
            fired[hit.rule_id].add(item.escalation_id)
    return [
        replace(suggestion, before=found.before, after=_tally(found.labelled, fired[index]))
        for index, suggestion in enumerate(suggestions)
    ]


# --- Answering -------------------------------------------------------------------------------


def may_answer(user: Any, rule: EscalationRule) -> bool:
    return has_team_role(user, rule.agent.team_id, Role.CONTRIBUTOR)


def _open_suggestion(rule: EscalationRule, *, escalation_id: int, target: str, text: str) -> Suggestion:
    """The suggestion as on offer now; SuggestionGone if it differs from what the page showed."""
    answer = (
        RuleSuggestion.objects.filter(rule=rule, escalation_id=escalation_id, target=target)
        .select_related("decided_by")
        .first()
    )
    if answer is not None:
        who = answer.decided_by.get_username() if answer.decided_by else "someone"
        raise SuggestionGone(
            f"This suggestion was already {answer.get_decision_display().lower()} by {who} "
            f"at {answer.decided_at:%Y-%m-%d %H:%M} UTC."
        )
    found = _open_suggestions(rule)
    waiting = [(item, t) for item, t in found.waiting if item.escalation_id == escalation_id]
    offered = _proposals(rule, waiting, found)[0] if waiting else None
    if offered is None:
        raise SuggestionGone(
            f"Escalation #{escalation_id} offers no suggestion for this rule any more "
            "(its verdict changed, or the rule already has it): reload the page."
        )
    if offered.target != target or offered.text != text:
        raise SuggestionGone(
            f"The suggestion from escalation #{escalation_id} changed since the page was shown "
            f"(now: {offered.target_label.lower()} “{offered.text}”): reload the page and look again."
        )
    return offered


def _locked_rule(rule_id: int, user: Any) -> EscalationRule:
    # Locked so two contributors answering at once apply their changes one after the other,
    # each to the rule as the other left it (rule_update locks it again, in this transaction).
    rule = EscalationRule.objects.select_for_update().select_related("agent__team").get(pk=rule_id)
    if not may_answer(user, rule):
        raise PermissionDenied(
            f"Only contributors and owners of the team {rule.agent.team.name} may answer suggestions."
        )
    return rule


def _record(rule: EscalationRule, suggestion: Suggestion, decision: SuggestionDecision, user: Any) -> None:
    try:
        with transaction.atomic():
            RuleSuggestion.objects.create(
                rule=rule,
                escalation_id=suggestion.escalation_id,
                target=suggestion.target,
                text=suggestion.text,
                decision=decision,
                decided_by=user,
            )
    except IntegrityError:
        message = "Someone answered this suggestion at the same moment: reload the page."
        raise SuggestionGone(message) from None


def accept_suggestion(
    *, rule_id: int, escalation_id: int, target: str, text: str, user: Any
) -> EscalationRule:
    """Put the suggestion into the rule, as the page showed it (target and text), or refuse.

    Raises PermissionDenied (not a contributor), SuggestionGone (no longer on offer as shown),
    ValidationError (the changed rule does not validate, e.g. too many examples).
    """
    with transaction.atomic():
        rule = _locked_rule(rule_id, user)
        suggestion = _open_suggestion(rule, escalation_id=escalation_id, target=target, text=text)
        shown = suggestion.text if len(suggestion.text) <= 120 else suggestion.text[:119] + "…"
        what = (
            f"exception phrase “{shown}”"
            if suggestion.target == SuggestionTarget.EXCEPTION_PHRASE
            else f"{suggestion.target} example “{shown}”"
        )
        rule = rule_update(
            rule_id=rule.pk,
            user=user,
            data=_applied(rule, suggestion.target, suggestion.text),
            reason=f"Accepted suggestion from escalation #{escalation_id}: {what}",
        )
        _record(rule, suggestion, SuggestionDecision.ACCEPTED, user)
    return rule


def dismiss_suggestion(*, rule_id: int, escalation_id: int, target: str, text: str, user: Any) -> None:
    """Never offer this suggestion again; the rule is unchanged."""
    with transaction.atomic():
        rule = _locked_rule(rule_id, user)
        suggestion = _open_suggestion(rule, escalation_id=escalation_id, target=target, text=text)
        _record(rule, suggestion, SuggestionDecision.DISMISSED, user)


def answered_recently(rule: EscalationRule, *, limit: int = 10) -> list[RuleSuggestion]:
    return list(RuleSuggestion.objects.filter(rule=rule).select_related("decided_by")[:limit])
