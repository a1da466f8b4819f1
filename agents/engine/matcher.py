"""compile_rules(specs) -> Matcher; Matcher.evaluate(history) -> hits. Pure: no ORM, no I/O.

One pass per text kind, whatever the number of rules: the longest word of
every phrase of every rule (phrases, amount, asks-for-human, exception
phrases) and the built-in asks-for-human patterns go into one RE2 Set run
over the normalised message, every regex rule into a second Set run over the
raw message. A word's Set entry is the part all its inflections share
("happy"/"happi" -> "happ"). Misspelt words are corrected to the phrase
words they are one edit from (words.TypoIndex: set look-ups, remembered per
word) and count as Set hits of their phrases. Only the rules the Sets woke
are then looked at one by one, on words (agents.engine.words: stems, gaps,
negation) to find the span, the amount, the exceptions. Exception phrases
are looked for in the newest message only, whatever the kind. Sentiment and
loop rules read the recent history and cost per rule, so they run only for
the roles they apply to.
Intent rules and exception examples (agents.engine.intent) embed the
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

from agents.engine import human, intent, money, reasons, words
from agents.engine.text import (
    OffsetMap,
    WordPattern,
    excerpt,
    normalise,
    re2_error_text,
    re2_options,
)
from agents.engine.words import Corrected, Phrase, Token, TypoIndex, is_negated, tokenize

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


@dataclass(frozen=True)
class _WordPhrase:
    """A written phrase (agents.engine.words.Phrase) and its Set entry (its longest word)."""

    phrase: Phrase
    indices: frozenset[int]
    typos: bool
    parts: tuple[str, ...] = ()  # each word's Set part (Phrase.set_candidates)

    @property
    def written(self) -> str:
        return self.phrase.written

    def find(self, message: _Message) -> tuple[int, int] | None:
        # Every word's Set part must be in the text, which a substring test in C says at once;
        # it spares splitting into words the messages the key word woke alone.
        text = message.text(self.typos)
        if not all(part in text for part in self.parts):
            return None
        return self.phrase.find(message.tokens(self.typos))


@dataclass(frozen=True)
class _RegexPhrase:
    """A built-in asks-for-human pattern: a regex over the (typo-corrected) words."""

    pattern: WordPattern
    indices: frozenset[int]
    typos: bool = True
    written: str = ""  # no written form: the evidence shows what was said

    def find(self, message: _Message) -> tuple[int, int] | None:
        found = self.pattern.find(message.text(self.typos))
        if found is None:
            return None
        tokens = message.tokens(self.typos)
        first = next((n for n, token in enumerate(tokens) if token.start >= found[0]), None)
        if first is not None and is_negated(tokens, first):
            return None  # "I don't want to talk to a person"
        return found


@dataclass
class _Compiled:
    spec: RuleSpec
    position: int
    roles: frozenset[str]
    phrases: list[_WordPhrase | _RegexPhrase] = field(default_factory=list)
    exceptions: list[_WordPhrase] = field(default_factory=list)
    regex: int | None = None
    limit: Decimal | None = None
    currency: str = ""
    intent_spec: intent.Intent | None = None
    exception_examples: tuple[str, ...] = ()
    requests_only: bool = True


@dataclass
class _Message:
    """The newest message, with its normalised text and the Set results computed once.

    Words, typo corrections and offsets are computed on first use: only for messages that
    woke a rule.
    """

    view: MessageView
    index: int
    normalised: str
    phrase_hits: frozenset[int]
    regex_hits: frozenset[int]
    fixes: dict[str, str] = field(default_factory=dict)
    _offsets: OffsetMap | None = None
    _scores: intent.MessageScores | None = None
    _corrected: Corrected | None = None
    _tokens: dict[bool, list[Token]] = field(default_factory=dict)

    def text(self, typos: bool) -> str:
        if not typos or not self.fixes:
            return self.normalised
        if self._corrected is None:
            self._corrected = Corrected(self.normalised, self.fixes)
        return self._corrected.text

    def tokens(self, typos: bool) -> list[Token]:
        typos = typos and bool(self.fixes)
        if typos not in self._tokens:
            self._tokens[typos] = tokenize(self.text(typos))
        return self._tokens[typos]

    def raw_span(self, start: int, end: int, typos: bool = False) -> tuple[int, int]:
        if typos and self.fixes:
            self.text(True)
            assert self._corrected is not None
            start, end = self._corrected.span(start, end)
        if self._offsets is None:
            self._offsets = OffsetMap(self.view.content)
        return self._offsets.span(start, end)


class Matcher:
    # Policy rules, in their order: judged outside the matcher (agents.policy_judge), which
    # must stay pure; compile_rules keeps them here so they ride the matcher cache.
    policy_rules: tuple[RuleSpec, ...] = ()

    def __init__(
        self,
        rules: list[_Compiled],
        phrases: _Patterns,
        regexes: _Patterns,
        bank: intent.IntentBank | None = None,
        typos: TypoIndex | None = None,
        typo_wakes: Mapping[str, frozenset[int]] | None = None,
    ) -> None:
        self._rules = rules
        self._phrases = phrases
        self._regexes = regexes
        self._bank = bank
        # Misspelt words of a message are corrected to phrase words (words.TypoIndex); a
        # correction stands for the Set entries the right spelling would have hit.
        self._typos = typos if typos else None
        self._typo_wakes = typo_wakes or {}
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
            for phrase in rule.phrases:
                for index in phrase.indices:
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
        fixes = self._typos.fixes(normalised) if self._typos is not None else {}
        if fixes:
            woken = (self._typo_wakes.get(word, _NOTHING) for word in set(fixes.values()))
            phrase_hits = phrase_hits.union(*woken)
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
            fixes=fixes,
        )
        firing = []
        if intent_rules:
            firing = [intent_rules[key] for key in self._scores(message).firing() if key in intent_rules]
        candidates = self._candidates(newest.role, phrase_hits, regex_hits, firing)
        hits = []
        for rule in candidates:
            if any(self._phrase_in(exception, message) for exception in rule.exceptions):
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

    def _phrase_in(self, phrase: _WordPhrase, message: _Message) -> bool:
        # The Set only says "maybe" (one word's part, no boundaries, order or gaps): confirm by words.
        return phrase.indices <= message.phrase_hits and phrase.find(message) is not None

    # --- one evaluator per kind ---------------------------------------------------

    def _first_phrase(self, rule: _Compiled, message: _Message) -> tuple[str, int, int] | None:
        for phrase in rule.phrases:
            if phrase.indices <= message.phrase_hits:
                found = phrase.find(message)
                if found is not None:
                    start, end = message.raw_span(*found, typos=phrase.typos)
                    # The built-in asks-for-human patterns have no written form: show what was said.
                    return phrase.written or message.view.content[start:end], start, end
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
        if rule.requests_only and not money.is_request(message.normalised):
            return None  # "has my refund of $299 been processed?" asks about one, it asks for none
        phrase, phrase_start, phrase_end = found
        # No exchange rates: only amounts in the rule's currency are compared with its limit. A
        # rule saved before a currency was required has none, and keeps comparing the number as
        # written (the evidence says so; saving it again asks for a currency).
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
        extra = {} if rule.currency else {"currency_unset": True}
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
            **extra,
        )

    def _sentiment_hit(
        self, rule: _Compiled, message: _Message, history: Sequence[MessageView]
    ) -> RuleHit | None:
        threshold = float(rule.spec.parameters.get("threshold", DEFAULT_SENTIMENT_THRESHOLD))
        last_n = int(rule.spec.parameters.get("last_n", 1))
        recent = [view for view in history if view.role in rule.roles][-last_n:]
        scores = [negativity(view.content) for view in recent]
        # The strongest of the last N: a mean would let one calm message hide a furious one.
        score = max(scores)
        if score < threshold:
            return None
        strongest = recent[scores.index(score)]
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
            strongest_message_id=strongest.id,
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
    return rule_hit(rule.spec, message.view, message.index, start, end, **fields)


def rule_hit(
    spec: RuleSpec,
    view: MessageView,
    index: int,
    start: int,
    end: int,
    *,
    severity: str = "",
    placeholders: Mapping[str, str] | None = None,
    **fields: Any,
) -> RuleHit:
    """A hit on `view` (at `index` in the history) with the one evidence shape of every kind.

    fields go into the evidence, and the text ones fill the reason's placeholders too;
    `placeholders` adds values for the reason only. severity: the rule's when empty.
    Public for the kinds judged outside the matcher (agents.engine.policy).
    """
    text = excerpt(view.content, start, end)
    evidence: dict[str, Any] = {
        "source": "rule",
        "rule_id": spec.id,
        "rule_name": spec.name,
        "kind": spec.kind,
        "text": text,
        "start": start,
        "end": end,
        "message_index": index,
        "role": view.role,
    }
    if view.id is not None:
        evidence["message_id"] = view.id
    evidence.update(fields)
    values = {
        "rule": spec.name,
        "text": text,
        **{k: v for k, v in fields.items() if isinstance(v, str)},
        **(placeholders or {}),
    }
    return RuleHit(
        rule_id=spec.id,
        rule_name=spec.name,
        kind=spec.kind,
        severity=severity or spec.severity,
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


# Calibrated on hand-labelled complaints and neutral messages, and on Banking77's real customer
# messages as the "calm" side (see docs/admins/matching.md and tests/agents/sentiment_messages.py).
DEFAULT_SENTIMENT_THRESHOLD = 0.5

# Words customers use when angry that VADER's lexicon misses or rates mildly, on its -4..4 scale.
# Insults and "unacceptable"/"ridiculous" count: the complaints were full of them.
_LEXICON_EXTRA = {
    "unacceptable": -2.8,
    "ridiculous": -2.4,
    "outrageous": -2.6,
    "disgraceful": -2.8,
    "joke": -1.0,
    "incompetent": -2.8,
    "useless": -2.4,
    "pathetic": -2.6,
    "scam": -2.8,
    "scammers": -3.0,
    "thieves": -3.0,
    "idiots": -3.0,
    "idiot": -3.0,
    "morons": -3.0,
    "clowns": -2.2,
    "rubbish": -2.2,
    "garbage": -2.4,
    "worst": -2.8,
    "furious": -3.0,
    "fed": 0.0,  # "fed up" is handled as a phrase below; "fed" alone is neutral
    "wtf": -2.6,
    "ripoff": -2.8,
    "sick": -1.6,
}
# Phrases VADER reads word by word, scored as one word (spaces become underscores before scoring).
_PHRASES_EXTRA = {
    "fed up": "fed_up",
    "rip off": "ripoff",
    "sick of": "sick_of",
    "sick and tired": "sick_of",
    # "problem" and "worry" are topic words (above), which would leave "no" as a negative word.
    "no problem": "fine",
    "no worries": "fine",
}
_LEXICON_EXTRA.update({"fed_up": -2.6, "sick_of": -2.6})


# Words VADER scores that tell what happened, not how the customer feels about it ("my card was
# stolen", "a failed transfer", "can you help"): left out, the score measures anger and
# frustration rather than the topic. Measured on Banking77's real, mostly calm messages: 8% of them
# fired at 0.3 before this, mostly on "stolen", "fraud", "declined", "problem".
_LEXICON_TOPIC_WORDS = frozenset(
    """stolen steal fraud fraudulent lost lose problem problems error errors failed fail fails wrong
    broken worried worry dispute rejected reject block blocked cancel missing miss delay delayed stop
    strange victim suspicious stuck confused confusing emergency avoid trouble suspect charged charges
    denied scared trapped accident mistake support help helpful please treat care cares save""".split()
)


@lru_cache(maxsize=1)
def _analyzer() -> Any:
    # Imported lazily: the lexicon takes ~0.1 s to load, and only agents with a
    # sentiment rule pay for it. It is read from the installed package, no network.
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    for word in _LEXICON_TOPIC_WORDS:
        analyzer.lexicon.pop(word, None)
    analyzer.lexicon.update(_LEXICON_EXTRA)
    return analyzer


_SHOUTING = re.compile(r"\b[A-Z]{3,}\b")


@lru_cache(maxsize=4096)
def negativity(text: str) -> float:
    """0 (neutral or positive) .. 1 (furious): VADER's compound score, negated and floored at 0.

    VADER already weighs CAPS and "!!!" as boosters of negative words; a message that shouts
    (two or more words in capitals, and "!!") scores at least 0.6, since customers shout
    about neutral words too ("WHERE IS MY ORDER!!!").
    Cached: each new message re-reads the last N, which were scored before.
    """
    lowered = text.lower()
    for phrase, word in _PHRASES_EXTRA.items():
        if phrase in lowered:
            text = re.sub(re.escape(phrase), word, text, flags=re.IGNORECASE)
    score = max(0.0, -_analyzer().polarity_scores(text)["compound"])
    shouted = len(_SHOUTING.findall(text)) >= 2 and "!!" in text
    if shouted:
        score = min(1.0, max(score + 0.3, 0.6))
    return score


# --- compiling -------------------------------------------------------------------------


def compile_rules(rules: Sequence[RuleSpec]) -> Matcher:
    """Build the matcher. A rule whose pattern RE2 refuses is skipped (and logged), not fatal."""
    phrases, regexes = _Patterns(), _Patterns()
    builtin_human: list[_RegexPhrase] = []
    if any(spec.kind == "asks_for_human" for spec in rules):  # else they would only slow the Set down
        builtin_human = [
            _RegexPhrase(exact, frozenset({phrases.add(exact, candidate)}))
            for candidate, exact in human.PATTERNS
        ]
    compiled_rules: list[_Compiled] = []
    policy_rules: list[RuleSpec] = []
    for position, spec in enumerate(rules):
        if spec.kind == "policy":  # it asks a model over the network: not the matcher's to run
            policy_rules.append(spec)
            continue
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
    typos, typo_wakes = _typo_index(compiled_rules, builtin_human)
    phrases.compile()
    regexes.compile()
    bank = _intent_bank(compiled_rules)
    matcher = Matcher(compiled_rules, phrases, regexes, bank=bank, typos=typos, typo_wakes=typo_wakes)
    matcher.policy_rules = tuple(policy_rules)
    return matcher


def _intent_bank(rules: list[_Compiled]) -> intent.IntentBank | None:
    """Embeds every example once, here; raises ModelUnavailable if rules need the model and it is missing."""
    intents = [rule.intent_spec for rule in rules if rule.intent_spec is not None]
    exceptions = {
        rule.position: (
            rule.exception_examples,
            [p.written.rstrip("*") for p in rule.phrases if p.written.rstrip("*")],
        )
        for rule in rules
        if rule.exception_examples
    }
    if not intents and not exceptions:
        return None  # agents without such rules never load the model
    return intent.IntentBank(intent.embedder(), intents, exceptions)


def _compile_one(
    rule: _Compiled, phrases: _Patterns, regexes: _Patterns, builtin_human: list[_RegexPhrase]
) -> None:
    params = rule.spec.parameters
    kind = rule.spec.kind
    written: list[str] = []
    if kind in ("phrases", "amount"):
        written = list(params.get("phrases", []))
    elif kind == "asks_for_human":
        written = list(params.get("extra_phrases", []))
    gap = int(params.get("word_gap", words.DEFAULT_WORD_GAP))
    typos = bool(params.get("typos", True))
    negated = bool(params.get("fire_when_negated", False))
    rule.phrases = [
        _word_phrase(phrases, p, gap=gap, typos=typos, fire_when_negated=negated)
        for p in written
        if p.strip()
    ]
    if kind == "asks_for_human":
        rule.phrases = [*builtin_human, *rule.phrases]
    # An exception counts however it is phrased, negated or not: it marks what the rule is not for.
    rule.exceptions = [
        _word_phrase(phrases, p, gap=gap, typos=typos, fire_when_negated=True)
        for p in rule.spec.exception_phrases
        if p.strip()
    ]
    if kind == "regex":
        rule.regex = _add_checked(regexes, str(params["pattern"]))
    if kind == "amount":
        rule.limit = Decimal(str(params["limit"]))
        rule.currency = str(params.get("currency", "")).upper()
        rule.requests_only = bool(params.get("requests_only", True))
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


def _word_phrase(
    patterns: _Patterns, written: str, *, gap: int, typos: bool, fire_when_negated: bool
) -> _WordPhrase:
    phrase = Phrase.parse(written, gap=gap, fire_when_negated=fire_when_negated)
    # One Set entry per phrase, its longest word: a Set of every word of every phrase had ~50%
    # more entries, short common ones among them, and measured ~1.5x slower on messages that
    # match nothing. The other words are checked on the few messages the key word wakes.
    parts = tuple(phrase.set_candidates())
    key = max(parts, key=len)
    return _WordPhrase(phrase, frozenset({_add_checked(patterns, re2.escape(key))}), typos, parts)


def _typo_index(
    rules: list[_Compiled], builtin_human: list[_RegexPhrase]
) -> tuple[TypoIndex | None, dict[str, frozenset[int]]]:
    """The words a misspelling may be corrected to, and the Set entries each one stands for."""
    wakes: dict[str, set[int]] = {}
    for rule in rules:
        for phrase in [*rule.phrases, *rule.exceptions]:
            if isinstance(phrase, _WordPhrase) and phrase.typos:
                # A misspelling of any word of the phrase stands for the phrase's Set entry.
                for word in phrase.phrase.words:
                    wakes.setdefault(word.text, set()).update(phrase.indices)
    if builtin_human:
        every_pattern = {index for pattern in builtin_human for index in pattern.indices}
        for word in human.VOCABULARY:
            wakes.setdefault(word, set()).update(every_pattern)
    if not wakes:
        return None, {}
    short_ok = human.VOCABULARY if builtin_human else ()
    return TypoIndex(wakes, short_ok), {word: frozenset(indices) for word, indices in wakes.items()}


def _texts(values: Any) -> tuple[str, ...]:
    if not isinstance(values, list | tuple):
        raise TypeError("examples must be a list of strings")
    return tuple(value.strip() for value in values if isinstance(value, str) and value.strip())


def _add_checked(patterns: _Patterns, candidate: str, exact: WordPattern | None = None) -> int:
    re2.compile(candidate, re2_options())  # raises re2.error before the Set would
    return patterns.add(exact or candidate, candidate)
