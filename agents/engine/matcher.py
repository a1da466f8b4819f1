"""compile_rules(specs) -> Matcher; Matcher.evaluate(history) -> hits. Pure: no ORM, no I/O.

One pass per text kind, whatever the number of rules: every phrase of every
rule (phrases, amount, asks-for-human, exception phrases, the built-in
asks-for-human patterns) goes into one RE2 Set run over the normalised
message, every regex rule into a second Set run over the raw message. Only
the rules whose patterns the Sets report are then looked at one by one (to
find the span, the amount, the exceptions). Exception phrases are looked
for in the newest message only, whatever the kind. Sentiment and loop rules read
the recent history and cost per rule, so they run only for the roles they
apply to. Intent rules and exception examples (agents.engine.intent) embed the
newest message once, whatever their number, and score it against all of them
in one matrix product; the examples are embedded when the matcher is compiled.
"""

from __future__ import annotations

import difflib
import logging
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any

import re2

from agents.engine import human, intent, money, reasons
from agents.engine.text import (
    OffsetMap,
    WordPattern,
    excerpt,
    normalise,
    phrase_pattern,
    re2_error_text,
    re2_options,
)

logger = logging.getLogger(__name__)

SEVERITY_RANK = {"info": 1, "warning": 2, "critical": 3}
ROLES_FOR = {"user": frozenset({"user"}), "agent": frozenset({"agent"}), "both": frozenset({"user", "agent"})}


@dataclass(frozen=True)
class RuleSpec:
    """A snapshot of an EscalationRule: all the matcher may know about it."""

    id: int | None
    name: str
    kind: str
    parameters: Mapping[str, Any]
    reason_template: str
    applies_to: str = "user"
    exception_phrases: tuple[str, ...] = ()
    severity: str = "warning"
    urgency: str = ""
    topic: str = ""
    area: str = ""
    order: int = 0


@dataclass(frozen=True)
class MessageView:
    role: str
    content: str
    id: int | None = None


@dataclass(frozen=True)
class RuleHit:
    rule_id: int | None
    rule_name: str
    kind: str
    severity: str
    urgency: str
    topic: str
    area: str
    reason: str
    evidence: list[dict[str, Any]] = field(default_factory=list)


_NOTHING: frozenset[int] = frozenset()


class _Patterns:
    """One RE2 Set of candidate patterns; each exact pattern compiled on its own (lazily, for spans)."""

    def __init__(self) -> None:
        self.patterns: list[str | WordPattern] = []  # exact
        self.candidates: list[str] = []
        self._index: dict[str | WordPattern, int] = {}
        self._set: Any = None
        self._single: dict[int, Any] = {}
        self._lock = threading.Lock()

    def add(self, pattern: str | WordPattern, candidate: str | None = None) -> int:
        if pattern not in self._index:
            self._index[pattern] = len(self.patterns)
            self.patterns.append(pattern)
            self.candidates.append(candidate if candidate is not None else str(pattern))
        return self._index[pattern]

    def compile(self) -> None:
        if not self.patterns:
            return
        pattern_set = re2.Set.SearchSet(re2_options())
        for candidate in self.candidates:
            pattern_set.Add(candidate)  # already compiled alone in compile_rules, so it is valid
        pattern_set.Compile()
        self._set = pattern_set

    def match(self, text: str) -> frozenset[int]:
        if self._set is None:
            return _NOTHING
        found = self._set.Match(text)  # None when nothing matched
        return frozenset(found) if found else _NOTHING

    def search(self, index: int, text: str) -> tuple[int, int] | None:
        exact = self.patterns[index]
        if isinstance(exact, WordPattern):
            return exact.find(text)
        compiled = self._single.get(index)
        if compiled is None:
            with self._lock:
                compiled = self._single.get(index) or re2.compile(exact, re2_options())
                self._single[index] = compiled
        found = compiled.search(text)
        return found.span() if found is not None else None


@dataclass
class _Compiled:
    spec: RuleSpec
    position: int
    roles: frozenset[str]
    phrases: list[tuple[int, str]] = field(default_factory=list)  # (index in the phrase set, as written)
    exceptions: list[int] = field(default_factory=list)
    regex: int | None = None
    limit: Decimal | None = None
    currency: str = ""
    intent_spec: intent.Intent | None = None
    exception_examples: tuple[str, ...] = ()


@dataclass
class _Message:
    """The newest message, with its normalised text and the Set results computed once."""

    view: MessageView
    index: int
    normalised: str
    phrase_hits: frozenset[int]
    regex_hits: frozenset[int]
    _offsets: OffsetMap | None = None
    _scores: intent.MessageScores | None = None

    def raw_span(self, start: int, end: int) -> tuple[int, int]:
        if self._offsets is None:
            self._offsets = OffsetMap(self.view.content)
        return self._offsets.span(start, end)


class Matcher:
    def __init__(
        self,
        rules: list[_Compiled],
        phrases: _Patterns,
        regexes: _Patterns,
        bank: intent.IntentBank | None = None,
    ) -> None:
        self._rules = rules
        self._phrases = phrases
        self._regexes = regexes
        self._bank = bank
        # Which rules a Set result can wake: a message costs the Set passes plus
        # the rules it may fire, not a Python call per rule (1,100 rules at ~1 µs
        # each measured 637 msg/s; this way the bench runs >100,000 msg/s).
        self._by_phrase: dict[int, list[_Compiled]] = {}
        self._by_regex: dict[int, list[_Compiled]] = {}
        self._always: dict[str, list[_Compiled]] = {"user": [], "agent": []}
        # Intent rules are looked at only when the bank says they fire (one product for all).
        self._intents: dict[str, dict[int, _Compiled]] = {"user": {}, "agent": {}}
        for rule in rules:
            if rule.spec.kind in ("sentiment", "loop"):
                for role in rule.roles:
                    self._always[role].append(rule)
            if rule.spec.kind == "intent":
                for role in rule.roles:
                    self._intents[role][rule.position] = rule
            for index, _ in rule.phrases:
                self._by_phrase.setdefault(index, []).append(rule)
            if rule.regex is not None:
                self._by_regex.setdefault(rule.regex, []).append(rule)

    def _candidates(
        self, role: str, phrase_hits: frozenset[int], regex_hits: frozenset[int], intents: list[_Compiled]
    ) -> list[_Compiled]:
        found: dict[int, _Compiled] = {rule.position: rule for rule in self._always[role]}
        found.update((rule.position, rule) for rule in intents)
        for hits, owners in ((phrase_hits, self._by_phrase), (regex_hits, self._by_regex)):
            for index in hits:
                for rule in owners.get(index, ()):
                    if role in rule.roles:
                        found[rule.position] = rule
        return [found[position] for position in sorted(found)]

    @property
    def rule_count(self) -> int:
        return len(self._rules)

    def evaluate(self, history: Sequence[MessageView]) -> list[RuleHit]:
        """Hits of the newest message of `history`, most severe first; older messages are context."""
        if not history:
            return []
        newest = history[-1]
        if newest.role not in self._always:  # tool and system messages never fire
            return []
        normalised = normalise(newest.content)
        phrase_hits = self._phrases.match(normalised)
        regex_hits = self._regexes.match(newest.content)
        intent_rules = self._intents[newest.role]
        if not phrase_hits and not regex_hits and not self._always[newest.role] and not intent_rules:
            return []  # the common case, kept cheap: most messages fire nothing
        message = _Message(
            view=newest,
            index=len(history) - 1,
            normalised=normalised,
            phrase_hits=phrase_hits,
            regex_hits=regex_hits,
        )
        firing = []
        if intent_rules:
            firing = [intent_rules[key] for key in self._scores(message).firing() if key in intent_rules]
        hits = []
        for rule in self._candidates(newest.role, phrase_hits, regex_hits, firing):
            if any(self._phrase_in(index, message) for index in rule.exceptions):
                continue
            if rule.exception_examples and self._scores(message).exception(rule.position) is not None:
                continue
            hit = _EVALUATORS[rule.spec.kind](self, rule, message, history)
            if hit is not None:
                hits.append(hit)
        # sorted() is stable: equal severities keep the rules' order.
        return sorted(hits, key=lambda hit: -SEVERITY_RANK.get(hit.severity, 0))

    def _scores(self, message: _Message) -> intent.MessageScores:
        # Embedded on first need and kept on the message: once per evaluation, whatever the rules.
        if message._scores is None:
            assert self._bank is not None, "compile_rules builds one for intents and exception examples"
            message._scores = self._bank.scores(message.view.content)
        return message._scores

    def _phrase_in(self, index: int, message: _Message) -> bool:
        # The Set only says "maybe" (no word boundaries in it): confirm with the exact pattern.
        return index in message.phrase_hits and self._phrases.search(index, message.normalised) is not None

    # --- one evaluator per kind ---------------------------------------------------

    def _first_phrase(self, rule: _Compiled, message: _Message) -> tuple[str, int, int] | None:
        for index, written in rule.phrases:
            if index in message.phrase_hits:
                found = self._phrases.search(index, message.normalised)
                if found is not None:
                    start, end = message.raw_span(*found)
                    # The built-in asks-for-human patterns have no written form: show what was said.
                    return written or message.view.content[start:end], start, end
        return None

    def _phrases_hit(
        self, rule: _Compiled, message: _Message, history: Sequence[MessageView]
    ) -> RuleHit | None:
        found = self._first_phrase(rule, message)
        if found is None:
            return None
        phrase, start, end = found
        return _hit(rule, message, start, end, phrase=phrase)

    def _asks_for_human_hit(
        self, rule: _Compiled, message: _Message, history: Sequence[MessageView]
    ) -> RuleHit | None:
        return self._phrases_hit(rule, message, history)

    def _regex_hit(
        self, rule: _Compiled, message: _Message, history: Sequence[MessageView]
    ) -> RuleHit | None:
        if rule.regex is None or rule.regex not in message.regex_hits:
            return None
        found = self._regexes.search(rule.regex, message.view.content)
        if found is None:
            return None
        return _hit(rule, message, found[0], found[1], pattern=rule.spec.parameters.get("pattern", ""))

    def _amount_hit(
        self, rule: _Compiled, message: _Message, history: Sequence[MessageView]
    ) -> RuleHit | None:
        found = self._first_phrase(rule, message)
        if found is None or rule.limit is None:
            return None
        phrase, phrase_start, phrase_end = found
        over = [
            amount
            for amount in money.find_amounts(message.view.content)
            if amount.value > rule.limit and (not rule.currency or amount.currency == rule.currency)
        ]
        if not over:
            return None
        amount = max(over, key=lambda a: a.value)
        currency = rule.currency or amount.currency
        start, end = min(phrase_start, amount.start), max(phrase_end, amount.end)
        return _hit(
            rule,
            message,
            start,
            end,
            phrase=phrase,
            amount=amount.display(),
            amount_value=str(amount.value),
            currency=amount.currency,
            limit=money.format_money(rule.limit, currency),
            limit_value=str(rule.limit),
        )

    def _sentiment_hit(
        self, rule: _Compiled, message: _Message, history: Sequence[MessageView]
    ) -> RuleHit | None:
        threshold = float(rule.spec.parameters.get("threshold", 0.6))
        last_n = int(rule.spec.parameters.get("last_n", 1))
        recent = [view for view in history if view.role in rule.roles][-last_n:]
        scores = [negativity(view.content) for view in recent]
        score = sum(scores) / len(scores)
        if score < threshold:
            return None
        content = message.view.content
        return _hit(
            rule,
            message,
            0,
            len(content),
            score=f"{score:.2f}",
            threshold=f"{threshold:.2f}",
            count=str(len(scores)),
            message_scores=[round(s, 3) for s in scores],
            message_ids=[view.id for view in recent if view.id is not None],
        )

    def _loop_hit(self, rule: _Compiled, message: _Message, history: Sequence[MessageView]) -> RuleHit | None:
        repeats = int(rule.spec.parameters.get("repeats", 3))
        similarity = float(rule.spec.parameters.get("similarity", 0.9))
        newest = _words(message.normalised)
        same_role = [view for view in history[:-1] if view.role == message.view.role]
        run = [message.view]
        for view in reversed(same_role):
            if not _similar(newest, _words(normalise(view.content)), similarity):
                break  # progress: the run of repeats ends at the first different message
            run.append(view)
            if len(run) >= repeats:
                break
        if len(run) < repeats:
            return None
        content = message.view.content
        return _hit(
            rule,
            message,
            0,
            len(content),
            count=str(len(run)),
            similarity=similarity,
            message_ids=[view.id for view in reversed(run) if view.id is not None],
        )

    def _intent_hit(
        self, rule: _Compiled, message: _Message, history: Sequence[MessageView]
    ) -> RuleHit | None:
        scores = self._scores(message)
        score = scores.intent(rule.position)
        if not score.fires:
            return None
        example, similarity = scores.closest_example(rule.position)
        content = message.view.content
        return _hit(
            rule,
            message,
            0,
            len(content),
            example=example,
            score=f"{score.score:.2f}",
            threshold=f"{score.threshold:.2f}",
            boundary_score=round(score.boundary, 3),
            example_similarity=round(similarity, 3),
        )


_EVALUATORS = {
    "phrases": Matcher._phrases_hit,
    "regex": Matcher._regex_hit,
    "amount": Matcher._amount_hit,
    "asks_for_human": Matcher._asks_for_human_hit,
    "sentiment": Matcher._sentiment_hit,
    "loop": Matcher._loop_hit,
    "intent": Matcher._intent_hit,
}


def _hit(rule: _Compiled, message: _Message, start: int, end: int, **fields: Any) -> RuleHit:
    spec = rule.spec
    text = excerpt(message.view.content, start, end)
    evidence: dict[str, Any] = {
        "source": "rule",
        "rule_id": spec.id,
        "rule_name": spec.name,
        "kind": spec.kind,
        "text": text,
        "start": start,
        "end": end,
        "message_index": message.index,
        "role": message.view.role,
    }
    if message.view.id is not None:
        evidence["message_id"] = message.view.id
    evidence.update(fields)
    values = {"rule": spec.name, "text": text, **{k: v for k, v in fields.items() if isinstance(v, str)}}
    return RuleHit(
        rule_id=spec.id,
        rule_name=spec.name,
        kind=spec.kind,
        severity=spec.severity,
        urgency=spec.urgency,
        topic=spec.topic,
        area=spec.area,
        reason=reasons.render(spec.reason_template, values) or spec.name,
        evidence=[evidence],
    )


_WORDS = re.compile(r"\w+")


@lru_cache(maxsize=4096)
def _words(normalised: str) -> tuple[str, ...]:
    return tuple(_WORDS.findall(normalised))


def _similar(a: tuple[str, ...], b: tuple[str, ...], threshold: float) -> bool:
    """Same or near-same messages: difflib's ratio over words, ignoring case, accents and punctuation.

    Words, not characters: a 200-character message is ~35 words, which makes the
    comparison ~5x cheaper, and a changed word is a change whatever its length.
    """
    if a == b:
        return True
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    # The cheap upper bounds first: most pairs of different messages stop here.
    return (
        matcher.real_quick_ratio() >= threshold
        and matcher.quick_ratio() >= threshold
        and matcher.ratio() >= threshold
    )


@lru_cache(maxsize=1)
def _analyzer() -> Any:
    # Imported lazily: the lexicon takes ~0.1 s to load, and only agents with a
    # sentiment rule pay for it. It is read from the installed package, no network.
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


@lru_cache(maxsize=4096)
def negativity(text: str) -> float:
    """0 (neutral or positive) .. 1 (furious): VADER's compound score, negated and floored at 0.

    Cached: each new message re-reads the last N, which were scored before.
    """
    return max(0.0, -_analyzer().polarity_scores(text)["compound"])


# --- compiling -------------------------------------------------------------------------


def compile_rules(rules: Sequence[RuleSpec]) -> Matcher:
    """Build the matcher. A rule whose pattern RE2 refuses is skipped (and logged), not fatal."""
    phrases, regexes = _Patterns(), _Patterns()
    builtin_human: list[tuple[int, str]] = []
    if any(spec.kind == "asks_for_human" for spec in rules):  # else they would only slow the Set down
        builtin_human = [(phrases.add(exact, candidate), "") for candidate, exact in human.PATTERNS]
    compiled_rules: list[_Compiled] = []
    for position, spec in enumerate(rules):
        if spec.kind not in _EVALUATORS:
            logger.warning("Rule %s has an unknown kind %r; skipped", spec.id, spec.kind)
            continue
        rule = _Compiled(
            spec=spec, position=position, roles=ROLES_FOR.get(spec.applies_to, ROLES_FOR["user"])
        )
        try:
            _compile_one(rule, phrases, regexes, builtin_human)
        except (re2.error, ValueError, TypeError) as exc:
            logger.warning(
                "Rule %s (%s) cannot be compiled, skipped: %s", spec.id, spec.name, re2_error_text(exc)
            )
            continue
        compiled_rules.append(rule)
    phrases.compile()
    regexes.compile()
    return Matcher(compiled_rules, phrases, regexes, _intent_bank(compiled_rules))


def _intent_bank(rules: list[_Compiled]) -> intent.IntentBank | None:
    """Embeds every example once, here; raises ModelUnavailable if rules need the model and it is missing."""
    intents = [rule.intent_spec for rule in rules if rule.intent_spec is not None]
    exceptions = {
        rule.position: (rule.exception_examples, [w.rstrip("*") for _, w in rule.phrases if w.rstrip("*")])
        for rule in rules
        if rule.exception_examples
    }
    if not intents and not exceptions:
        return None  # agents without such rules never load the model
    return intent.IntentBank(intent.embedder(), intents, exceptions)


def _compile_one(
    rule: _Compiled, phrases: _Patterns, regexes: _Patterns, builtin_human: list[tuple[int, str]]
) -> None:
    params = rule.spec.parameters
    kind = rule.spec.kind
    written: list[str] = []
    if kind in ("phrases", "amount"):
        written = list(params.get("phrases", []))
    elif kind == "asks_for_human":
        written = list(params.get("extra_phrases", []))
    rule.phrases = [(_add_checked(phrases, *phrase_pattern(p)), p.strip()) for p in written if p.strip()]
    if kind == "asks_for_human":
        rule.phrases = builtin_human + rule.phrases
    rule.exceptions = [
        _add_checked(phrases, *phrase_pattern(p)) for p in rule.spec.exception_phrases if p.strip()
    ]
    if kind == "regex":
        rule.regex = _add_checked(regexes, str(params["pattern"]))
    if kind == "amount":
        rule.limit = Decimal(str(params["limit"]))
        rule.currency = str(params.get("currency", "")).upper()
    if kind in ("phrases", "amount"):
        rule.exception_examples = _texts(params.get("exception_examples", []))
    if kind == "intent":
        rule.intent_spec = intent.Intent(
            key=rule.position,
            description=str(params.get("description", "")).strip(),
            should=_texts(params["should"]),
            should_not=_texts(params["should_not"]),
            threshold=float(params.get("threshold", intent.DEFAULT_THRESHOLD)),
        )
        if not rule.intent_spec.should or not rule.intent_spec.should_not:
            raise ValueError("an intent needs should and should_not examples")


def _texts(values: Any) -> tuple[str, ...]:
    if not isinstance(values, list | tuple):
        raise TypeError("examples must be a list of strings")
    return tuple(value.strip() for value in values if isinstance(value, str) and value.strip())


def _add_checked(patterns: _Patterns, candidate: str, exact: WordPattern | None = None) -> int:
    re2.compile(candidate, re2_options())  # raises re2.error before the Set would
    return patterns.add(exact or candidate, candidate)
