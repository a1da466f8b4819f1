"""Intent rules: is a message close in meaning to a rule's examples? Pure: the model and the scoring.

The model is WordLlama's 256-dimension static embedding, shipped in the
`wordllama` wheel (see pyproject.toml for why this one): a message's vector is
the mean of its tokens' vectors: tens of µs on one core, no network, no torch.

Scoring (measured in bench/trigger_accuracy.py on Banking77 and on a shop
corpus we wrote, see bench/README.md):
1. Every vector is centred on the mean of a fixed set of everyday support
   messages (agents/engine/intent_background.py) and normalised. A static
   model puts a large shared component in every sentence; removing it makes
   cosines mean "about the same thing" rather than "also an English question".
2. An intent is a small linear classifier, fitted when the rule is compiled:
   regularised least squares (ridge) with target +1 for the should examples
   and the description, -1 for the should_not examples and the background
   sentences, each side weighing the same in total (should 1; should_not 1/2,
   background 1/2). The score of a message is w·x + b: about +1 for a message
   like the should examples, about -1 for one like the rest.
3. A message fires the intent when its score is at least the threshold.
   Why not the earlier "cosine to the should centroid, and closer to it than
   to the should_not centroid": the hard gate threw away obvious requests
   ("I need to do a refund") because the boundary examples share the topic
   word, and a cosine threshold meant different things for a tight rule and a
   loose one. The classifier weighs the words that tell the two sides apart;
   on the ten rules of Banking77 "first 10" and our shop corpus, the mean of
   min(precision, recall) went from 0.575 (the centroid gate at its default
   0.45; 0.60 at its best) to 0.653 (this classifier at 0.10).
   Closed form, numpy only: a 257x257 solve per rule at compile time, one
   dot product per rule per message, as before.
4. The evidence names the closest should example (the one an admin recognises)
   and the score.
5. Typos: a message word of 5+ letters that the English dictionary (the
   pyspellchecker package's word list) does not know, and that is one edit
   (insert, delete, replace, swap) from exactly one word of the matcher's
   examples, phrases and descriptions, is read as that word: "talkk" as
   "talk", "reinbursed" as "reimbursed", "acount" as "account". Only unknown
   words, and only towards the rules' own words: "pound", "rebate" or
   "reactivate" are dictionary words and are never changed (correcting
   towards the rules' words alone turned "reactivate" into "deactivate" and
   "rebate" into "create" on Banking77 and our shop corpus). The static model
   cuts an unknown word into unrelated pieces, so a typo otherwise weighs
   as noise.

Exceptions as intents (`exception_examples` of a phrase or amount rule): the
rule does not fire when the message's nearest exception example is at least
EXCEPTION_THRESHOLD close AND closer than the nearest of the rule's own
phrases. Nearest, not centroid: exceptions are often a few unrelated
carve-outs ("refund policy", "a refund I already got"). The comparison with
the rule's phrases is what makes it work: on Banking77 a bare threshold
removed true refund requests as fast as policy questions (every message with
"refund" is near "what is your refund policy?"), while "closer to an
exception than to what the rule is about" raised the phrase rule's precision
from 0.38 to 0.57 for a recall of 0.65 instead of 0.75.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from agents.engine.intent_background import SENTENCES as BACKGROUND
from escalation_project.errors import DomainError

# The classifier score (about -1 unlike, +1 like the should examples) from which a message
# fires. Measured over ten rules in two domains (Banking77 first-10 and curated, our shop
# corpus): 0.10 had the best mean of min(precision, recall) (0.683; 0.677 at 0.15, 0.663 at
# 0.20). Low rather than high on purpose: a false positive is visible (a supervisor marks it
# "not needed" and the learning loop offers it as a should_not example), a miss is not. A rule
# with ten examples scores its paraphrases 0.1-0.4. The sweep is in bench/README.md; an admin
# sets `threshold` per rule.
DEFAULT_THRESHOLD = 0.10
# Ridge regularisation of the classifier (on unit vectors): smaller fits the ten examples
# harder (0.02 gave more false positives on the broad "card" rule), larger flattens the
# scores towards 0 so no threshold separates (1.0 collapsed). 0.05 measured best on both corpora.
RIDGE_ALPHA = 0.05
# An exception example this close (cosine to the nearest one), and closer than the rule's
# own phrases, blocks the rule (0.4..0.6 measured the same on Banking77).
EXCEPTION_THRESHOLD = 0.5
MIN_EXAMPLES = 3
MAX_EXAMPLES = 200
# Longer messages are cut before embedding: the cost stays bounded, and the
# first 2,000 characters of a message say what it is about.
MAX_CHARS = 2000
MODEL_NAME = "wordllama l2_supercat 256"
# A word this long or longer may be read as a typo of a rule's word (see the module's
# docstring); shorter words have too many real neighbours one edit away.
TYPO_MIN_LETTERS = 5
# Distinct words whose reading each matcher keeps (a matcher per agent: smaller than the
# model's WORD_CACHE, which is shared by all).
TYPO_CACHE = 10_000
# Distinct words whose token ids are kept: ~50 bytes each, and a support team's vocabulary
# is a few thousand words; the least recently used go first.
WORD_CACHE = 50_000


class ModelUnavailable(DomainError):
    """The embedding model cannot be loaded: intent rules and exception examples cannot be evaluated.

    Raised, never swallowed: a post whose agent has such rules fails loudly
    (HTTP 503 model_unavailable) rather than going through with rules that
    silently stop firing.
    """

    code = "model_unavailable"
    # A server-side fault the client can retry: the post is refused (nothing written)
    # rather than let through unchecked.
    http_status = 503


class Embedder:
    """Text -> centred, unit-length vectors. Thread-safe: it only reads its arrays."""

    def __init__(self, tokenizer: Any, weights: np.ndarray, lexicon: Collection[str] = frozenset()) -> None:
        """lexicon: the lower-case words of English a typo is never read into another word for."""
        self._tokenizer = tokenizer
        self.lexicon = lexicon
        # Per word, cached: the tokenizer's normaliser only turns spaces into "▁" word
        # starts and its BPE never merges across one, so a text's ids are its words' ids
        # in order (checked on all 13,145 Banking77 messages: identical). A message costs
        # dict lookups instead of a tokenizer call (13 µs instead of 54 µs measured).
        self._word_ids = lru_cache(maxsize=WORD_CACHE)(self._encode_word)
        self._weights = np.ascontiguousarray(weights, dtype=np.float32)
        self.dim = int(self._weights.shape[1])
        self._centre = np.zeros(self.dim, dtype=np.float32)  # _plain does not read it
        self._centre = np.mean([self._plain(text) for text in BACKGROUND], axis=0).astype(np.float32)
        self._background: np.ndarray | None = None  # computed on first use; the same result if raced

    def _plain(self, text: str) -> np.ndarray:
        """The model's own sentence vector (of the text with its whitespace runs as single spaces):
        the mean of the token vectors, unit length."""
        ids = [i for word in text[:MAX_CHARS].split() for i in self._word_ids(word)]
        if not ids:
            return np.zeros(self.dim, dtype=np.float32)
        # The sum, not the mean: the scale goes with the normalisation. Ids come from the
        # model's own vocabulary, which has one row per id (checked in _load).
        return _unit(self._weights[ids].sum(axis=0))

    def _encode_word(self, word: str) -> tuple[int, ...]:
        return tuple(self._tokenizer.encode(word, add_special_tokens=False).ids)

    def vector(self, text: str) -> np.ndarray:
        """One text; a zero vector for text with no tokens (it is close to nothing)."""
        plain = self._plain(text)
        # Unit length before centring, as the model's vectors are used: a long message's
        # mean has a smaller norm, and would otherwise be pulled towards the centre's side.
        return _unit(plain - self._centre) if plain.any() else plain

    def background(self) -> np.ndarray:
        """The background sentences' vectors: the "nothing in particular" side of every intent."""
        if self._background is None:
            self._background = self.vectors(BACKGROUND)
        return self._background

    def vectors(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self.vector(text) for text in texts])


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = math.sqrt(float(vector @ vector))  # a third of np.linalg.norm's cost on one vector
    return vector / np.float32(norm) if norm > 0 else vector


_embedder: Embedder | None = None
_lock = threading.Lock()


def embedder() -> Embedder:
    """The process's one model, loaded on first use (0.3-1 s); ModelUnavailable if it cannot be."""
    model = _embedder  # read once: no lock on the hot path
    if model is not None:
        return model
    with _lock:
        if _embedder is None:
            _set(_load())
        assert _embedder is not None
        return _embedder


def _set(model: Embedder | None) -> None:
    global _embedder
    _embedder = model


def _load() -> Embedder:
    try:
        import wordllama
        from wordllama import WordLlama
    except ImportError as exc:
        raise ModelUnavailable(
            f"The intent model cannot be loaded: the wordllama package is not installed ({exc}). "
            "Install the project's dependencies (pip install -e .)."
        ) from None
    try:
        # The wheel ships the weights and the tokenizer in its own folder, but 0.4.0 looks for
        # the tokenizer elsewhere first and would then download: point it at its own folder and
        # forbid downloads, so a missing file is an error here, never a network call.
        model = WordLlama.load(
            config="l2_supercat", dim=256, cache_dir=Path(wordllama.__file__).parent, disable_download=True
        )
        if model.tokenizer.get_vocab_size() > model.embedding.shape[0]:
            raise ValueError("the tokenizer has more ids than the weights have rows")
        # The English word list that tells a typo from a real word (shipped in the wheel).
        from spellchecker import SpellChecker

        lexicon = SpellChecker(language="en", distance=1).word_frequency.dictionary
        return Embedder(model.tokenizer, model.embedding, lexicon)
    except Exception as exc:  # any failure of a third-party loader means the same thing here
        raise ModelUnavailable(
            f"The intent model ({MODEL_NAME}) cannot be loaded: {exc}. "
            "Reinstall the project's dependencies (wordllama, pyspellchecker); "
            "nothing is downloaded at run time."
        ) from None


def reset() -> None:
    """For tests only: forget the loaded model, so the next use loads it again."""
    with _lock:
        _set(None)


def with_examples(
    parameters: dict[str, Any], *, should: Sequence[str] = (), should_not: Sequence[str] = ()
) -> dict[str, Any]:
    """An intent rule's parameters with examples added (e.g. from supervisors' needed marks).

    A new dict; the examples keep their order, exact repeats (ignoring case and
    spacing) are not added twice, and a side already at MAX_EXAMPLES takes no more.
    """
    updated = dict(parameters)
    for key, new in (("should", should), ("should_not", should_not)):
        examples = list(updated.get(key, []))
        seen = {" ".join(e.casefold().split()) for e in examples}
        for example in new:
            folded = " ".join(example.casefold().split())
            if folded and folded not in seen and len(examples) < MAX_EXAMPLES:
                examples.append(example.strip())
                seen.add(folded)
        updated[key] = examples
    return updated


# --- the compiled intents of one matcher --------------------------------------------------


@dataclass(frozen=True)
class Intent:
    """One rule's examples, as the matcher compiles them."""

    key: int  # the rule's position in its matcher
    description: str
    should: tuple[str, ...]
    should_not: tuple[str, ...]
    threshold: float


@dataclass(frozen=True)
class Score:
    score: float  # the classifier's score: about +1 like the should examples, -1 like the rest
    boundary: float  # cosine to the should_not centroid (evidence only: how near the boundary it was)
    threshold: float

    @property
    def fires(self) -> bool:
        return self.score >= self.threshold


class IntentBank:
    """Every intent and exception set of a matcher, as one matrix: one product per message.

    Rows: per intent, its classifier's weights then its should_not centroid
    (with the classifier's bias in a vector beside); then every exception
    example of every rule. Built once when the matcher is
    compiled (the examples are embedded here, never per message).
    """

    def __init__(
        self,
        model: Embedder,
        intents: Sequence[Intent],
        exceptions: dict[int, tuple[Sequence[str], Sequence[str]]],
    ) -> None:
        """exceptions: rule key -> (its exception examples, its own phrases)."""
        self._model = model
        self._typos = Typos(
            model.lexicon,
            [
                *(text for i in intents for text in (i.description, *i.should, *i.should_not)),
                *(text for examples, phrases in exceptions.values() for text in (*examples, *phrases)),
            ],
        )
        self._intents = {intent.key: intent for intent in intents}
        self._examples: dict[int, np.ndarray] = {}
        rows: list[np.ndarray] = []
        self._intent_row: dict[int, int] = {}
        biases: list[float] = []
        background = model.background()
        for intent in intents:
            should = model.vectors([*intent.should, *([intent.description] if intent.description else [])])
            should_not = model.vectors(intent.should_not)
            self._examples[intent.key] = should[: len(intent.should)]
            self._intent_row[intent.key] = len(rows)
            weights, bias = _fit(should, should_not, background)
            rows.append(weights)
            rows.append(_unit(should_not.mean(axis=0)))
            biases.append(bias)
        # rule key -> (first exception row, first phrase row, end)
        self._exception_rows: dict[int, tuple[int, int, int]] = {}
        self._exception_text: dict[int, tuple[str, ...]] = {}
        for key, (examples, phrases) in exceptions.items():
            start = len(rows)
            rows.extend(model.vectors(list(examples)))
            middle = len(rows)
            rows.extend(model.vectors(list(phrases)))
            self._exception_rows[key] = (start, middle, len(rows))
            self._exception_text[key] = tuple(examples)
        self._matrix = np.stack(rows) if rows else np.zeros((0, model.dim), dtype=np.float32)
        # For firing(): all intents decided in three array operations, not a Python call per rule.
        self._keys = np.array(list(self._intent_row), dtype=np.int64)
        self._should_rows = np.array(list(self._intent_row.values()), dtype=np.int64)
        thresholds = [self._intents[key].threshold for key in self._intent_row]
        self._thresholds = np.array(thresholds, dtype=np.float32)
        self._biases = np.array(biases, dtype=np.float32)
        self._bias = dict(zip(self._intent_row, biases, strict=True))

    def __bool__(self) -> bool:
        return bool(self._matrix.shape[0])

    def scores(self, text: str) -> MessageScores:
        vector = self._model.vector(self._typos.read(text))
        return MessageScores(self, vector, self._matrix @ vector)

    def firing(self, cosines: np.ndarray) -> list[int]:
        """The keys of the intents this message fires (see Score.fires), in key order."""
        if not len(self._keys):
            return []
        score = cosines[self._should_rows] + self._biases
        return self._keys[score >= self._thresholds].tolist()

    def intent_score(self, key: int, cosines: np.ndarray) -> Score:
        row = self._intent_row[key]
        score = float(cosines[row]) + self._bias[key]
        return Score(score, float(cosines[row + 1]), self._intents[key].threshold)

    def closest_example(self, key: int, vector: np.ndarray) -> tuple[str, float]:
        similarities = self._examples[key] @ vector
        best = int(np.argmax(similarities))
        return self._intents[key].should[best], float(similarities[best])

    def exception(self, key: int, cosines: np.ndarray) -> tuple[str, float] | None:
        """The nearest exception example if it blocks the rule (see the module's docstring), else None."""
        span = self._exception_rows.get(key)
        if span is None or span[0] == span[1]:
            return None
        start, middle, end = span
        part = cosines[start:middle]
        best = int(np.argmax(part))
        similarity = float(part[best])
        if similarity < EXCEPTION_THRESHOLD:
            return None
        if middle < end and similarity <= float(cosines[middle:end].max()):
            return None  # closer to what the rule is about than to the exception
        return self._exception_text[key][best], similarity


_WORD = re.compile(r"([^A-Za-z]*)([A-Za-z]+)([^A-Za-z]*)")


class Typos:
    """Reads misspelt words as the rules' words they are one edit from (see the module's docstring)."""

    def __init__(self, lexicon: Collection[str], texts: Iterable[str]) -> None:
        self._lexicon = lexicon
        self._known = {word for text in texts for word in re.findall(r"[a-z]+", text.lower())}
        # Each rule word and its one-letter deletions -> the rule words: two words are one
        # edit apart when they share an entry (SymSpell's trick; a handful of dict lookups).
        self._index: dict[str, set[str]] = {}
        for word in self._known:
            if len(word) >= TYPO_MIN_LETTERS - 1:
                for variant in {word, *_deletions(word)}:
                    self._index.setdefault(variant, set()).add(word)
        self._word = lru_cache(maxsize=TYPO_CACHE)(self._read_word)

    def read(self, text: str) -> str:
        if not self._index:
            return text
        words = text[:MAX_CHARS].split()
        read = [self._word(word) for word in words]
        return text if read == words else " ".join(read)

    def _read_word(self, token: str) -> str:
        match = _WORD.fullmatch(token)
        if match is None or len(match[2]) < TYPO_MIN_LETTERS:
            return token
        word = match[2].lower()
        if word in self._known or word in self._lexicon:
            return token
        candidates = set(self._index.get(word, ()))
        for variant in _deletions(word):
            candidates |= self._index.get(variant, set())
        if len(candidates) != 1:  # none, or ambiguous: leave the word as written
            return token
        return f"{match[1]}{candidates.pop()}{match[3]}"


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def _fit(should: np.ndarray, should_not: np.ndarray, background: np.ndarray) -> tuple[np.ndarray, float]:
    """Ridge classifier (see the module's docstring): (weights, bias), score = weights·x + bias."""
    x = np.vstack([should, should_not, background]).astype(np.float64)
    x = np.hstack([x, np.ones((len(x), 1))])  # the bias as a last, unregularised, column
    target = np.r_[np.ones(len(should)), -np.ones(len(should_not) + len(background))]
    # Each side weighs 1 in total however many examples it has: ten should examples against
    # seven should_not and sixty background sentences would otherwise lean to "no".
    weight = np.r_[
        np.full(len(should), 1 / len(should)),
        np.full(len(should_not), 0.5 / max(len(should_not), 1)),
        np.full(len(background), 0.5 / len(background)),
    ]
    gram = x.T @ (x * weight[:, None]) + RIDGE_ALPHA * np.eye(x.shape[1])
    gram[-1, -1] -= RIDGE_ALPHA
    solution = np.linalg.solve(gram, x.T @ (weight * target))
    return solution[:-1].astype(np.float32), float(solution[-1])


@dataclass(frozen=True)
class MessageScores:
    """One message against the whole bank: computed once per evaluation, read per rule."""

    bank: IntentBank
    vector: np.ndarray
    cosines: np.ndarray

    def intent(self, key: int) -> Score:
        return self.bank.intent_score(key, self.cosines)

    def firing(self) -> list[int]:
        return self.bank.firing(self.cosines)

    def closest_example(self, key: int) -> tuple[str, float]:
        return self.bank.closest_example(key, self.vector)

    def exception(self, key: int) -> tuple[str, float] | None:
        return self.bank.exception(key, self.cosines)
