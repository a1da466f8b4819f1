"""Phrases that match the way people write: inflections, a few words in between, typos, negation.

All of it works on *normalised* text (agents.engine.text.normalise) and on
words (runs of letters and digits, with inner apostrophes: "didn't" is one
word). Admins' documentation: docs/admins/matching.md.

- Inflections: each word is compared by its Snowball (Porter2) English stem
  (PyStemmer, the Snowball project's C build), so "refund" matches "refunds"
  and "refunded", "account deletion" matches "account deleted". The stemmer is
  a maintained library, not a suffix list.
- Gaps: up to `word_gap` other words may stand between two words of a phrase
  ("delete account" matches "delete my Premium account" at the default 2),
  within one sentence.
- Typos: a message word of 5+ letters at edit distance 1 (a transposition
  counts as one) from a phrase word of 5+ letters is read as that word. The
  message is corrected once (`TypoIndex`), then matched like any other.
- Negation: a phrase preceded, in the same clause, by a negation within
  NEGATION_WINDOW words ("I was NOT charged twice", "I never asked for a
  refund") does not count, unless the rule sets fire_when_negated.
"""

from __future__ import annotations

import bisect
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import Stemmer
from rapidfuzz.distance import OSA

DEFAULT_WORD_GAP = 2
MAX_WORD_GAP = 5
TYPO_MIN_LETTERS = 5
# How many words before a phrase a negation still reaches: "not" in "I did not
# ask for a refund" is 4 words before "refund".
NEGATION_WINDOW = 4
NEGATIONS = frozenset(
    # Contractions are spelt without their apostrophe (see _plain); "no longer" is covered by "no".
    """not no never nothing nobody none nor neither without cannot cant dont didnt doesnt isnt
    wasnt werent arent aint havent hasnt hadnt wont wouldnt couldnt shouldnt mustnt neednt""".split()
)
# A clause ends at punctuation or at a word that turns the sentence ("not X, but I want Y").
CLAUSE_WORDS = frozenset({"but", "however", "although", "though", "yet"})
# "Can't I talk to someone?", "why don't you refund me": a negation followed by a subject is a
# question or a request, not a denial. "I can't believe you charged me twice", "I don't know why
# I was charged twice", "not only ... but": negated verbs of thinking that leave the event said.
_NOT_DENYING = frozenset(
    {"i", "we", "you", "u", "believe", "understand", "know", "see", "sure", "only", "just", "wait", "stand"}
)

# A word, or one punctuation mark that ends a clause (those are tokens too, for the scopes).
# \w (letters, digits and "_", any script) measured ~1.6x faster in `re` than [^\W_].
_TOKEN = re.compile(r"\w+(?:['’]\w+)*|[.!?;:,]")
_SENTENCE_END = frozenset(".!?;")
_PUNCTUATION = frozenset(".!?;:,")


# PyStemmer's stemmer objects are not thread-safe: one per thread.
_local = threading.local()


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """The Snowball (Porter2) English stem; cached, as messages repeat their words."""
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        stemmer = _local.stemmer = Stemmer.Stemmer("english")
    return stemmer.stemWord(word.replace("’", "'"))


def _plain(word: str) -> str:
    """didn't / didn’t -> didnt: how NEGATIONS spells contractions."""
    return word.replace("'", "").replace("’", "")


class Token(NamedTuple):
    # A NamedTuple, not a frozen dataclass: a message's words are made by the dozen on every
    # woken message, and a frozen dataclass's __init__ measured ~4x slower.
    text: str
    start: int
    end: int
    sentence: int
    clause: int

    @property
    def stem(self) -> str:
        return stem(self.text)


def tokenize(text: str) -> list[Token]:
    """Words of normalised text with their sentence and clause numbers; punctuation is dropped.

    Split on whitespace first (in C), and run the word pattern only on chunks that are not
    all letters and digits ("refund," "didn't" "(now)!!"): ~1.6x faster than the pattern
    over the whole text, with the same tokens (tests/agents/test_engine_words.py).
    """
    tokens: list[Token] = []
    append = tokens.append
    sentence = clause = 0
    position = 0
    find = text.find
    for chunk in text.split():
        start = find(chunk, position)
        position = start + len(chunk)
        if chunk.isalnum():
            if chunk in CLAUSE_WORDS:
                clause += 1
            append(Token(chunk, start, position, sentence, clause))
            continue
        for found in _TOKEN.finditer(chunk):
            value = found.group()
            if value in _PUNCTUATION:
                clause += 1
                if value in _SENTENCE_END:
                    sentence += 1
                continue
            if value in CLAUSE_WORDS:
                clause += 1
            chunk_start, chunk_end = found.span()
            append(Token(value, start + chunk_start, start + chunk_end, sentence, clause))
    return tokens


def is_negated(tokens: list[Token], first: int, window: int = NEGATION_WINDOW) -> bool:
    """Is the phrase starting at tokens[first] inside a negation's scope?"""
    clause = tokens[first].clause
    for index in range(first - 1, max(first - 1 - window, -1), -1):
        token = tokens[index]
        if token.clause != clause:
            return False
        word = _plain(token.text)
        following = tokens[index + 1].text if index + 1 < first else ""
        if word in NEGATIONS:
            if following in _NOT_DENYING:
                continue  # "can't I ...", "can't believe ...": asking or exclaiming, not denying
            return True
    return False


# --- phrases ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PhraseWord:
    text: str  # normalised
    stem: str
    prefix: bool  # the phrase's last word, written with `*`: any word starting with it

    def matches(self, token: Token) -> bool:
        if token.text == self.text:
            return True
        if self.prefix:
            return token.text.startswith(self.text)
        return token.stem == self.stem


@dataclass(frozen=True)
class Phrase:
    """A phrase as an admin wrote it, matched word by word (see the module docstring)."""

    written: str
    words: tuple[PhraseWord, ...]
    gap: int = DEFAULT_WORD_GAP
    fire_when_negated: bool = False

    @classmethod
    def parse(cls, written: str, *, gap: int = DEFAULT_WORD_GAP, fire_when_negated: bool = False) -> Phrase:
        prefix = written.rstrip().endswith("*")
        from agents.engine.text import normalise  # text imports nothing from here; avoid a cycle

        pieces = [t.text for t in tokenize(normalise(written.strip().rstrip("*")))]
        if not pieces:
            raise ValueError(f"the phrase {written!r} has no words")
        words = tuple(
            PhraseWord(piece, stem(piece), prefix and n == len(pieces) - 1) for n, piece in enumerate(pieces)
        )
        return cls(written.strip(), words, gap, fire_when_negated)

    def set_candidates(self) -> list[str]:
        """What each word contributes to the RE2 Set: the part every inflection of it contains.

        A word and its stem share a prefix ("refund"/"refund", "happy"/"happi" -> "happ"); every
        word with the same stem contains it, so the Set never misses an inflection. The Set is
        only a filter: `find` checks words, boundaries, order and gaps.
        """
        return [_common_prefix(word.text, word.stem) or word.text for word in self.words]

    def find(self, tokens: list[Token]) -> tuple[int, int] | None:
        """(start, end) in the text the tokens came from, of the first occurrence that counts."""
        first_word = self.words[0]
        for first, token in enumerate(tokens):
            if not first_word.matches(token):
                continue
            last = self._rest(tokens, first, 1)
            if last is None:
                continue
            if not self.fire_when_negated and is_negated(tokens, first):
                continue
            return token.start, tokens[last].end
        return None

    def _rest(self, tokens: list[Token], previous: int, word_index: int) -> int | None:
        """Index of the token matching the phrase's last word, words[word_index:] after `previous`."""
        if word_index == len(self.words):
            return previous
        word = self.words[word_index]
        sentence = tokens[previous].sentence
        for index in range(previous + 1, min(previous + 2 + self.gap, len(tokens))):
            if tokens[index].sentence != sentence:
                return None
            if word.matches(tokens[index]):
                found = self._rest(tokens, index, word_index + 1)
                if found is not None:
                    return found
        return None


def _common_prefix(a: str, b: str) -> str:
    length = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        length += 1
    return a[:length]


# --- typos ---------------------------------------------------------------------------


def near(word: str, target: str, *, short_target: bool = False) -> bool:
    """Edit distance 1 (insert, delete, substitute, or swap two neighbours) to a target of 5+
    letters: "refnd" is "refund". A `short_target` of 4 letters takes a word of 5: "talkk" is
    "talk", "tall" is not."""
    if word == target or min(len(word), len(target)) < TYPO_MIN_LETTERS - 1:
        return False
    if len(target) < TYPO_MIN_LETTERS and not (short_target and len(word) >= TYPO_MIN_LETTERS):
        return False
    return OSA.distance(word, target, score_cutoff=1) <= 1


class TypoIndex:
    """Corrects misspelt words of a message to the phrase words they are one edit away from.

    Cheap for messages that match nothing: a message's whitespace-separated chunks are
    looked up in a set of chunks already seen (one C-level set difference); only chunks never
    seen before cost Python work, once each. Real traffic repeats its vocabulary, so after a
    warm-up nearly every message is all set operations. Both sets are bounded (SEEN_LIMIT) and
    simply cleared when full. Shared between threads: set.add and dict assignment are atomic
    under the GIL, and a lost entry is only looked at again.
    """

    SEEN_LIMIT = 200_000

    def __init__(self, vocabulary: Iterable[str], short_ok: Iterable[str] = ()) -> None:
        """`short_ok`: words of 4 letters that a 5-letter misspelling may stand for ("talkk")."""
        self._short_ok = frozenset(short_ok)
        words = {
            w
            for w in vocabulary
            if w.isalpha()
            and (len(w) >= TYPO_MIN_LETTERS or len(w) == TYPO_MIN_LETTERS - 1 and w in self._short_ok)
        }
        self._exact = frozenset(words)
        self._stems = {stem(w): w for w in words}
        # SymSpell-style index: every word and each of its one-letter deletions point to the word,
        # so candidates for a message word come from a few dict reads, not a scan of all words.
        self._deletions: dict[str, set[str]] = {}
        for word in words:
            for variant in {word, *_deletions(word)}:
                self._deletions.setdefault(variant, set()).add(word)
        self._seen: set[str] = set()
        self._fixes: dict[str, tuple[tuple[str, str], ...]] = {}  # chunk -> ((typo, word), ...)
        self._typo_chunks: set[str] = set()  # the keys of _fixes, as a set for isdisjoint

    def __bool__(self) -> bool:
        return bool(self._exact)

    def fixes(self, text: str) -> dict[str, str]:
        """{misspelt word: phrase word} for the words of normalised `text`; usually empty."""
        chunks = text.split()
        # Two set lookups per chunk in C and no new set on the common path: the chunks were all
        # seen before and none of them holds a typo (measured: building a set of the chunks
        # cost as much as the whole RE2 Set pass).
        if not self._seen.issuperset(chunks):
            self._learn(set(chunks) - self._seen)
        if self._typo_chunks.isdisjoint(chunks):
            return {}
        return {typo: fix for chunk in chunks for typo, fix in self._fixes.get(chunk, ())}

    def _learn(self, new: set[str]) -> None:
        if len(self._seen) > self.SEEN_LIMIT:
            self._seen, self._fixes, self._typo_chunks = set(), {}, set()
        for chunk in new:
            found = tuple(
                (piece, fix)
                for piece in (t.text for t in tokenize(chunk))
                if (fix := self.correction(piece)) is not None
            )
            if found:
                self._fixes[chunk] = found
                self._typo_chunks.add(chunk)
            self._seen.add(chunk)

    def correction(self, word: str) -> str | None:
        if len(word) < TYPO_MIN_LETTERS - 1 or word in self._exact or not word.isalpha():
            return None
        word_stem = stem(word)
        if word_stem in self._stems:
            return None  # an inflection of a phrase word, not a typo
        candidates: set[str] = set()
        for variant in {word, *_deletions(word)}:
            candidates |= self._deletions.get(variant, set())
        for candidate in sorted(candidates):  # sorted: the same fix whatever the set order
            short = candidate in self._short_ok
            if near(word, candidate, short_target=short) or near(
                word_stem, stem(candidate), short_target=short
            ):
                return candidate
        return None


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


class Corrected:
    """`text` with misspelt words replaced, and the way back to positions in the original."""

    def __init__(self, text: str, fixes: dict[str, str]) -> None:
        self.original = text
        if not fixes:
            self.text = text
            self._starts: list[int] = []
            return
        pattern = re.compile(r"(?<![^\W_])(?:" + "|".join(map(re.escape, fixes)) + r")(?![^\W_])")
        parts: list[str] = []
        self._starts = []  # new start of each replaced word ...
        self._segments: list[tuple[int, int, int, int]] = []  # ... (new start, new end, old start, old end)
        position = new_position = 0
        for found in pattern.finditer(text):
            parts.append(text[position : found.start()])
            new_position += found.start() - position
            fix = fixes[found.group()]
            parts.append(fix)
            self._starts.append(new_position)
            self._segments.append((new_position, new_position + len(fix), found.start(), found.end()))
            new_position += len(fix)
            position = found.end()
        parts.append(text[position:])
        self.text = "".join(parts)

    def original_position(self, position: int, *, end: bool = False) -> int:
        if not self._starts:
            return position
        index = bisect.bisect_right(self._starts, position) - 1
        if index < 0:
            return position
        new_start, new_end, old_start, old_end = self._segments[index]
        if position < new_end or (end and position == new_end):
            return old_end if end else old_start
        return old_end + (position - new_end)

    def span(self, start: int, end: int) -> tuple[int, int]:
        return self.original_position(start), self.original_position(end, end=True)
