"""What each rule kind keeps in EscalationRule.parameters, checked when a rule is saved.

The trigger engine reads these; validating them here means an admin sees a
field error at once instead of a rule that silently never fires.
"""

import difflib
import re
from collections.abc import Callable
from typing import Any

import re2
from django.conf import settings
from django.core.exceptions import ValidationError

from agents.engine import intent, reasons, words
from agents.engine.matcher import DEFAULT_SENTIMENT_THRESHOLD
from agents.engine.money import CODES
from agents.engine.text import phrase_problem, re2_error_text, re2_options

# --- the parameters each kind knows, with their JSON Schema and default -------------------------
# One table for three readers: validate_parameters (an unknown or misspelt key is refused, with a
# "did you mean"), the OpenAPI schema (one schema per kind, agents.api.serializers) and the docs.
_STRINGS = {"type": "array", "items": {"type": "string", "minLength": 1}}
_PHRASE_LIST = {**_STRINGS, "description": 'Words or phrases; "*" at the end for prefixes, e.g. "refund*".'}
_WORD_OPTIONS: dict[str, dict[str, Any]] = {
    "word_gap": {
        "type": "integer",
        "minimum": 0,
        "maximum": words.MAX_WORD_GAP,
        "default": words.DEFAULT_WORD_GAP,
        "description": "How many other words may stand between two words of a phrase.",
    },
    "typos": {
        "type": "boolean",
        "default": True,
        "description": "Words of 5+ letters also match at one typo (edit distance 1).",
    },
    "fire_when_negated": {
        "type": "boolean",
        "default": False,
        "description": 'Also fire when a negation comes just before the phrase ("I was not charged twice").',
    },
}
# Examples of what the rule is not for ("questions about the refund policy"); read by intent
# matching (agents.engine.intent), accepted here so phrase and amount rules can carry them.
_EXCEPTION_EXAMPLES = {**_STRINGS, "description": "Messages this rule should not fire on."}
PARAMETERS: dict[str, dict[str, dict[str, Any]]] = {
    "phrases": {"phrases": _PHRASE_LIST, **_WORD_OPTIONS, "exception_examples": _EXCEPTION_EXAMPLES},
    "regex": {"pattern": {"type": "string", "minLength": 1, "description": "An RE2 regular expression."}},
    "amount": {
        "phrases": _PHRASE_LIST,
        "limit": {"type": "number", "minimum": 0, "description": "Fires on amounts over this."},
        "currency": {
            "type": "string",
            "enum": [*CODES, *(code.lower() for code in CODES)],  # read in upper case
            "description": "The limit's currency; amounts in other currencies are not compared.",
        },
        "requests_only": {
            "type": "boolean",
            "default": True,
            "description": 'Only requests ("refund $150 please"), not status questions '
            '("has my refund of $299 been processed?").',
        },
        **_WORD_OPTIONS,
        "exception_examples": _EXCEPTION_EXAMPLES,
    },
    "asks_for_human": {
        "extra_phrases": {**_PHRASE_LIST, "description": "Phrases to add to the built-in ones."},
        "word_gap": _WORD_OPTIONS["word_gap"],
        "typos": _WORD_OPTIONS["typos"],
    },
    "sentiment": {
        "threshold": {
            "type": "number",
            "minimum": 0,
            "maximum": 1,
            "default": DEFAULT_SENTIMENT_THRESHOLD,
            "description": "How negative (0 calm .. 1 furious) the strongest of the last messages must be.",
        },
        "last_n": {
            "type": "integer",
            "minimum": 1,
            "maximum": 50,
            "default": 1,
            "description": "How many of the latest messages count; the strongest one decides.",
        },
    },
    "loop": {
        "repeats": {"type": "integer", "minimum": 2, "maximum": 20, "default": 3},
        "similarity": {"type": "number", "minimum": 0.5, "maximum": 1, "default": 0.9},
    },
    # Built and validated by other parts of the engine (agents.engine.intent, the policy judge);
    # listed here so their keys are known, and misspellings refused, in one place.
    "intent": {
        "description": {"type": "string", "description": "What the rule is about, in plain words."},
        "should": {
            **_STRINGS,
            "minItems": intent.MIN_EXAMPLES,
            "description": f"Messages that should escalate (at least {intent.MIN_EXAMPLES}).",
        },
        "should_not": {
            **_STRINGS,
            "minItems": intent.MIN_EXAMPLES,
            "description": f"Messages that should stay with the AI (at least {intent.MIN_EXAMPLES}).",
        },
        "threshold": {
            "type": "number",
            "minimum": 0.05,
            "maximum": 0.95,
            "default": intent.DEFAULT_THRESHOLD,
            "description": "How close to the should examples a message must be (higher: fewer, surer hits).",
        },
    },
    "policy": {
        "policy": {"type": "string", "description": "When to escalate, in words, for the model to judge."},
        "last_n": {"type": "integer", "minimum": 1, "maximum": 50, "default": 6},
    },
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "phrases": ("phrases",),
    "regex": ("pattern",),
    "amount": ("phrases", "limit", "currency"),
    "intent": ("should", "should_not"),
    "policy": ("policy",),
}


def _known_keys(kind: str, params: dict) -> None:
    known = PARAMETERS.get(kind)
    if known is None:
        return
    for key in params:
        if key in known:
            continue
        close = difflib.get_close_matches(str(key), list(known), n=1, cutoff=0.6)
        hint = f' Did you mean "{close[0]}"?' if close else ""
        raise ValidationError(
            f'Unknown parameter "{key}" for a {kind} rule.{hint} Known: {", ".join(known)}.'
        )


def _boolean(params: dict, key: str) -> None:
    if key in params and not isinstance(params[key], bool):
        raise ValidationError(f'"{key}" must be true or false.')


def _word_options(params: dict) -> None:
    if "word_gap" in params:
        value = params["word_gap"]
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= words.MAX_WORD_GAP:
            raise ValidationError(f'"word_gap" must be a whole number from 0 to {words.MAX_WORD_GAP}.')
    _boolean(params, "typos")
    _boolean(params, "fire_when_negated")


def _phrase_list(params: dict, key: str, *, required: bool) -> None:
    phrases = params.get(key, [])
    if not isinstance(phrases, list) or not all(isinstance(p, str) and p.strip() for p in phrases):
        raise ValidationError(f'"{key}" must be a list of non-empty strings.')
    if required and not phrases:
        raise ValidationError(f'"{key}" needs at least one phrase.')
    for phrase in phrases:
        problem = phrase_problem(phrase)
        if problem:
            raise ValidationError(f'"{key}": the phrase {phrase!r} {problem}.')


def _number(params: dict, key: str, *, low: float, high: float | None, default: Any = None) -> None:
    value = params.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f'"{key}" must be a number.')
    if value < low or (high is not None and value > high):
        upper = f" and {high}" if high is not None else ""
        raise ValidationError(f'"{key}" must be between {low}{upper}, not {value}.')


def _phrases(params: dict) -> None:
    _phrase_list(params, "phrases", required=True)
    _examples(params, "exception_examples", low=0)
    _word_options(params)


def _regex(params: dict) -> None:
    pattern = params.get("pattern")
    if not isinstance(pattern, str) or not pattern:
        raise ValidationError('"pattern" must be a non-empty regular expression.')
    # Checked with RE2, the engine the matcher runs it with: no lookarounds or
    # backreferences, and matching time stays linear in the message length.
    try:
        compiled = re2.compile(pattern, re2_options())
    except re2.error as exc:
        raise ValidationError(
            f'"pattern" is not a valid regular expression: {re2_error_text(exc)}. '
            "(Patterns run on RE2: lookarounds and backreferences are not supported.)"
        ) from None
    found = compiled.search("zq")
    if found is not None and found.start() == found.end():
        # e.g. "refund|" or "x*": an empty match anywhere means a hit on every message.
        raise ValidationError('"pattern" matches empty text, so it would fire on every message.')


def _amount(params: dict) -> None:
    _phrase_list(params, "phrases", required=True)
    _number(params, "limit", low=0, high=None)
    # Required: without exchange rates, "over 100" means nothing until it says 100 of what, and a
    # rule that compared ¥500 with a $100 limit would fire on every yen amount. (Rules saved
    # before this keep matching the number as written; their evidence says currency_unset.)
    currency = params.get("currency", "")
    if not isinstance(currency, str) or currency.upper() not in CODES:
        raise ValidationError(
            f'"currency" is required: the currency of "limit", one of {", ".join(CODES)} '
            "(amounts in other currencies are not compared; there are no exchange rates)."
        )
    _boolean(params, "requests_only")
    _examples(params, "exception_examples", low=0)
    _word_options(params)


def _asks_for_human(params: dict) -> None:
    _phrase_list(params, "extra_phrases", required=False)
    _word_options(params)


def _sentiment(params: dict) -> None:
    # threshold: how negative (0..1 on the compound scale, reversed) before it fires.
    _number(params, "threshold", low=0, high=1, default=DEFAULT_SENTIMENT_THRESHOLD)
    _number(params, "last_n", low=1, high=50, default=1)


def _loop(params: dict) -> None:
    _number(params, "repeats", low=2, high=20, default=3)
    _number(params, "similarity", low=0.5, high=1, default=0.9)


# A policy is a paragraph or two; its text goes to the judge with every message it checks.
POLICY_MAX_CHARS = 4000


def _policy(params: dict) -> None:
    text = params.get("policy")
    if not isinstance(text, str) or not text.strip():
        raise ValidationError('"policy" must say in words when to escalate.')
    if len(text) > POLICY_MAX_CHARS:
        raise ValidationError(f'"policy" must be at most {POLICY_MAX_CHARS} characters, not {len(text)}.')
    last_n = params.get("last_n", 6)
    if isinstance(last_n, bool) or not isinstance(last_n, int) or not 1 <= last_n <= 50:
        raise ValidationError(
            f'"last_n" (messages sent to the judge) must be a whole number 1..50, not {last_n!r}.'
        )


def _examples(params: dict, key: str, *, low: int) -> None:
    """Example messages for the intent model: whole sentences as a customer writes them."""
    examples = params.get(key, [])
    if not isinstance(examples, list) or not all(isinstance(e, str) and e.strip() for e in examples):
        raise ValidationError(f'"{key}" must be a list of non-empty example messages.')
    if len(examples) < low:
        raise ValidationError(f'"{key}" needs at least {low} examples, not {len(examples)}.')
    if len(examples) > intent.MAX_EXAMPLES:
        raise ValidationError(f'"{key}" takes at most {intent.MAX_EXAMPLES} examples, not {len(examples)}.')
    too_long = next((e for e in examples if len(e) > intent.MAX_CHARS), None)
    if too_long is not None:
        raise ValidationError(f'"{key}": examples are at most {intent.MAX_CHARS} characters.')


def _intent(params: dict) -> None:
    description = params.get("description", "")
    if not isinstance(description, str):
        raise ValidationError('"description" must be text: what the rule is about, in a few words.')
    _examples(params, "should", low=intent.MIN_EXAMPLES)
    _examples(params, "should_not", low=intent.MIN_EXAMPLES)
    # The classifier's score runs from about -1 to +1: 0 is its own boundary (as like the
    # should side as the other); below it the rule would fire on messages more like the
    # should_not side, and near 1 only on copies of an example.
    _number(params, "threshold", low=0, high=0.95, default=intent.DEFAULT_THRESHOLD)


VALIDATORS: dict[str, Callable[[dict], None]] = {
    "phrases": _phrases,
    "regex": _regex,
    "amount": _amount,
    "asks_for_human": _asks_for_human,
    "sentiment": _sentiment,
    "loop": _loop,
    "policy": _policy,
    "intent": _intent,
}

EXAMPLES: dict[str, dict] = {
    "phrases": {"phrases": ["refund", "chargeback"]},
    "regex": {"pattern": r"\border\s+#?\d{6,}\b"},
    "amount": {"phrases": ["refund"], "limit": 100, "currency": "USD"},
    "asks_for_human": {"extra_phrases": []},
    "sentiment": {"threshold": 0.5, "last_n": 2},
    "loop": {"repeats": 3, "similarity": 0.9},
    "policy": {"policy": "Escalate refund requests over $100 and any legal threat.", "last_n": 6},
    "intent": {
        "description": "refund requests",
        "should": ["I want my money back", "please refund my order", "can I get a refund for this"],
        "should_not": ["what is your refund policy?", "my refund has not arrived", "thanks for the refund"],
    },
}


def validate_phrases(field: str, phrases: Any) -> None:
    """Exception phrases follow the same syntax as a rule's phrases (see agents.engine.text)."""
    try:
        _phrase_list({field: phrases}, field, required=False)
    except ValidationError as exc:
        raise ValidationError({field: exc.messages[0]}) from None


def validate_reason_template(kind: str, template: Any) -> None:
    """Unknown placeholders are refused here, so rendering a saved template never fails."""
    if not isinstance(template, str):
        raise ValidationError({"reason_template": "The reason must be text."})
    problem = reasons.template_problem(kind, template)
    if problem:
        raise ValidationError({"reason_template": problem})


def validate_judge_configured(kind: str, enabled: bool) -> None:
    """An enabled policy rule needs a judge: refused on a server without one, rather than saved
    to be skipped on every message. Disabled, it saves (drafted before the judge is set up)."""
    if kind == "policy" and enabled and not (settings.POLICY_JUDGE_BASE_URL and settings.POLICY_JUDGE_MODEL):
        raise ValidationError(
            {
                "enabled": "No policy judge is configured on this server (POLICY_JUDGE_BASE_URL and "
                "POLICY_JUDGE_MODEL), so this rule could never fire: save it disabled until one is."
            }
        )


# Every message of the checks above starts with the parameter it is about, in quotes.
_NAMED_KEY = re.compile(r'^"(\w+)"')


def parameter_errors(kind: str, params: dict) -> dict[str | None, str]:
    """The same checks as validate_parameters, as {parameter: message} for a form to show next
    to the field (None: not about one parameter); empty when the parameters are valid."""
    try:
        _known_keys(kind, params)
        VALIDATORS[kind](params)
    except ValidationError as exc:
        message = exc.messages[0]
        named = _NAMED_KEY.match(message)
        return {named.group(1) if named else None: message}
    return {}


def validate_parameters(kind: str, params: Any) -> None:
    if not isinstance(params, dict):
        raise ValidationError({"parameters": "Parameters must be a JSON object."})
    validator = VALIDATORS.get(kind)
    if validator is None:
        raise ValidationError({"kind": f"Unknown rule kind {kind!r}."})
    try:
        _known_keys(kind, params)
        validator(params)
    except ValidationError as exc:
        example = EXAMPLES[kind]
        raise ValidationError({"parameters": f"{exc.messages[0]} Example for {kind}: {example}"}) from None
