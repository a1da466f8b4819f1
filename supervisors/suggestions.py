"""Rule suggestions from the supervisors' verdicts, without a model: which words tell "needed" apart.

For one agent and the last N days, the users' messages are read in two sets of
conversations: those escalated and marked needed, and those never escalated.
Each word and two-word phrase is scored by the log-odds ratio with an
informative Dirichlet prior (Monroe, Colaresi & Quinn, "Fightin' Words", 2008):
the prior is the term's frequency over both sets, which keeps rare terms from
topping the list on a count of one or two. A term counts once per
conversation (document frequency), so one long conversation cannot carry it.

And the reverse: for phrase rules whose escalations were mostly marked not
needed, the two-word phrases around what fired in those messages that never
occur in the needed ones: candidate exception phrases.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import Counter
from dataclasses import dataclass, field

from django.db.models import Count, Exists, OuterRef
from django.template.defaultfilters import pluralize
from django.utils import timezone

from agents.models import Agent, Conversation, EscalationRule, Message, MessageRole, RuleKind
from escalations.models import Escalation
from supervisors.insights import NOISY_SHARE

# A term must occur in at least this many needed conversations to be suggested.
MIN_COUNT = 5
# z-score of the log-odds above which a term is "far more frequent" (about p < 0.025, one-sided).
MIN_Z = 1.96
# The prior's total weight (α0 in the paper): how many pseudo-counts the background lends.
PRIOR_WEIGHT = 100.0
# At most this many conversations of each set are read (the most recent): bounds the page's time.
MAX_CONVERSATIONS = 2000
# Below this many conversations on a side, a phrase's share there is mostly noise: the page says
# which side is short rather than suggest from it.
MIN_CONVERSATIONS_PER_SIDE = 20
MAX_SUGGESTIONS = 20
EXAMPLES = 3
# Exceptions: a rule qualifies with at least this many marked escalations in the period.
MIN_MARKED_FOR_EXCEPTIONS = 5
MIN_EXCEPTION_COUNT = 2

# Words too common to mean anything alone; a two-word phrase of two of them is skipped too. The
# Snowball project's English stop list (snowballstem.org/algorithms/english/stop.txt), with a few
# words of time and chat that topped real suggestions ("after", "please", "hi") added: a rule on
# one of them would fire on nearly every conversation.
STOPWORDS = frozenset(
    """
    i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she
    her hers herself it its itself they them their theirs themselves what which who whom this that
    these those am is are was were be been being have has had having do does did doing would should
    could ought i'm you're he's she's it's we're they're i've you've we've they've i'd you'd he'd
    she'd we'd they'd i'll you'll he'll she'll we'll they'll isn't aren't wasn't weren't hasn't
    haven't hadn't doesn't don't didn't won't wouldn't shan't shouldn't can't cannot couldn't
    mustn't let's that's who's what's here's there's when's where's why's how's a an the and but if
    or because as until while of at by for with about against between into through during before
    after above below to from up down in out on off over under again further then once here there
    when where why how all any both each few more most other some such no nor not only own same so
    than too very can will just also get got still yet already ago since hi hello hey please
    thanks thank ok okay yes
    """.split()
)
WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")


def terms(text: str) -> set[str]:
    """The distinct words (not stopwords) and two-word phrases (not two stopwords) of a text."""
    words = [word.lower() for word in WORD.findall(text)]
    found = {word for word in words if word not in STOPWORDS and len(word) > 1}
    for first, second in zip(words, words[1:], strict=False):
        if not (first in STOPWORDS and second in STOPWORDS):
            found.add(f"{first} {second}")
    return found


def log_odds(
    ours: Counter, theirs: Counter, *, prior_weight: float = PRIOR_WEIGHT
) -> dict[str, tuple[float, float]]:
    """term -> (delta, z) for `ours` against `theirs`, with an informative Dirichlet prior."""
    n_ours, n_theirs = sum(ours.values()), sum(theirs.values())
    background = ours + theirs
    n_all = n_ours + n_theirs
    scores = {}
    for term, y_i in ours.items():
        y_j = theirs.get(term, 0)
        alpha = prior_weight * background[term] / n_all
        delta = math.log((y_i + alpha) / (n_ours + prior_weight - y_i - alpha)) - math.log(
            (y_j + alpha) / (n_theirs + prior_weight - y_j - alpha)
        )
        variance = 1 / (y_i + alpha) + 1 / (y_j + alpha)
        scores[term] = (delta, delta / math.sqrt(variance))
    return scores


@dataclass
class Suggestion:
    phrase: str
    z: float
    needed_conversations: int  # needed conversations it occurs in
    other_conversations: int  # never-escalated conversations it occurs in
    estimated_hits: int  # conversations of the period (read) a phrase rule on it would fire on
    examples: list[str] = field(default_factory=list)


@dataclass
class ExceptionProposal:
    rule: EscalationRule
    marked: int
    not_needed: int
    phrases: list[tuple[str, int]]  # (candidate exception, not-needed escalations it occurs in)


@dataclass
class Suggestions:
    days: int
    needed_read: int
    others_read: int
    suggestions: list[Suggestion]
    exceptions: list[ExceptionProposal]

    @property
    def shortfall(self) -> str:
        """Why nothing is suggested, naming the side that is missing; "" when something is."""
        if self.suggestions:
            return ""
        least, days = MIN_CONVERSATIONS_PER_SIDE, self.days
        needed = f"{self.needed_read} conversation{pluralize(self.needed_read)} escalated and marked needed"
        others = f"{self.others_read} never escalated"
        short_needed, short_others = self.needed_read < least, self.others_read < least
        if short_needed and short_others:
            return (
                f"Too little to compare: {needed} and {others} in the last {days} days (at least {least} "
                "of each): mark more escalations needed, and let the agent handle more conversations alone."
            )
        if short_needed:
            return (
                f"Too few needed conversations: {needed} in the last {days} days, against {others} "
                f"(at least {least} needed): mark more escalations needed."
            )
        if short_others:
            return (
                f"Too few conversations to compare with: {others} in the last {days} days, against "
                f"{needed} (at least {least}): phrases are judged against what the agent handled alone, "
                "so wait for more of them or widen the period."
            )
        return (
            f"No phrase stands out: none occurs in at least {MIN_COUNT} of the {needed} far more "
            f"often than in the {others}."
        )


def _user_texts(conversation_ids: list[int]) -> dict[int, list[str]]:
    texts: dict[int, list[str]] = {}
    rows = Message.objects.filter(conversation_id__in=conversation_ids, role=MessageRole.USER)
    for conversation_id, content in rows.values_list("conversation_id", "content").iterator():
        texts.setdefault(conversation_id, []).append(content)
    return texts


def _recent_ids(queryset) -> list[int]:
    return list(queryset.order_by("-created_at").values_list("pk", flat=True)[:MAX_CONVERSATIONS])


def ranked(scored: list[tuple[str, float]], needed: Counter, others: Counter) -> list[tuple[str, float]]:
    """By z; equal scores as the page shows them (one decimal) go to the phrase with more evidence:
    more needed conversations, then fewer never-escalated ones. The alphabet only settles the rest."""
    return sorted(scored, key=lambda item: (-round(item[1], 1), -needed[item[0]], others[item[0]], item[0]))


def agent_to_open_on(agents: list[Agent], *, days: int, now: dt.datetime | None = None) -> Agent | None:
    """The page's agent when none is chosen: the one with the most escalations marked needed in
    the period (the side suggestions start from), so a first visit lands where there is
    something to read rather than on the first name; the first agent when none has any."""
    if not agents:
        return None
    since = (now or timezone.now()) - dt.timedelta(days=days)
    busiest = (
        Escalation.objects.filter(agent__in=agents, needed=True, created_at__gte=since)
        .values("agent_id")
        .annotate(marked=Count("pk"))
        .order_by("-marked", "agent_id")
        .values_list("agent_id", flat=True)
        .first()
    )
    return next((agent for agent in agents if agent.pk == busiest), agents[0])


def suggestions_for(agent: Agent, *, days: int, now: dt.datetime | None = None) -> Suggestions:
    since = (now or timezone.now()) - dt.timedelta(days=days)
    conversations = Conversation.objects.filter(agent=agent, created_at__gte=since)
    escalations = Escalation.objects.filter(conversation=OuterRef("pk"))
    needed_ids = _recent_ids(conversations.filter(Exists(escalations.filter(needed=True))))
    other_ids = _recent_ids(conversations.filter(~Exists(escalations)))
    texts = _user_texts(needed_ids + other_ids)
    terms_of = {cid: set().union(*(terms(text) for text in texts.get(cid, []))) for cid in texts}
    needed_counts = Counter(term for cid in needed_ids for term in terms_of.get(cid, ()))
    other_counts = Counter(term for cid in other_ids for term in terms_of.get(cid, ()))
    scored = [
        (term, z)
        for term, (delta, z) in log_odds(needed_counts, other_counts).items()
        if needed_counts[term] >= MIN_COUNT and z >= MIN_Z and delta > 0
    ]
    scored = ranked(scored, needed_counts, other_counts)
    # A two-word phrase whose words are both suggested alone adds little; keep the list short.
    suggestions = []
    for term, z in scored[:MAX_SUGGESTIONS]:
        examples = [text for cid in needed_ids for text in texts.get(cid, []) if term in terms(text)][
            :EXAMPLES
        ]
        suggestions.append(
            Suggestion(
                phrase=term,
                z=z,
                needed_conversations=needed_counts[term],
                other_conversations=other_counts.get(term, 0),
                estimated_hits=needed_counts[term] + other_counts.get(term, 0),
                examples=examples,
            )
        )
    return Suggestions(
        days=days,
        needed_read=len(needed_ids),
        others_read=len(other_ids),
        suggestions=suggestions,
        exceptions=exception_proposals(agent, since=since),
    )


def exception_proposals(agent: Agent, *, since: dt.datetime) -> list[ExceptionProposal]:
    """Phrase rules mostly marked not needed, with two-word phrases around what fired in those
    messages that never occur in the needed ones (phrase rules take `exception_phrases`)."""
    proposals = []
    for rule in agent.rules.filter(kind=RuleKind.PHRASES):
        marked = list(
            Escalation.objects.filter(rule=rule, created_at__gte=since, needed__isnull=False).values_list(
                "needed", "evidence"
            )
        )
        not_needed = sum(1 for needed, _ in marked if not needed)
        if len(marked) < MIN_MARKED_FOR_EXCEPTIONS or not_needed / len(marked) < NOISY_SHARE:
            continue
        message_ids = {
            item.get("message_id"): needed
            for needed, evidence in marked
            for item in evidence or []
            if isinstance(item, dict) and item.get("rule_id") == rule.pk and item.get("message_id")
        }
        contents = dict(Message.objects.filter(pk__in=list(message_ids)).values_list("pk", "content"))
        words = {
            word.lower() for phrase in rule.parameters.get("phrases", []) for word in WORD.findall(phrase)
        }
        counts: dict[bool, Counter] = {True: Counter(), False: Counter()}
        for message_id, needed in message_ids.items():
            around = {term for term in terms(contents.get(message_id, "")) if " " in term}
            counts[needed].update(term for term in around if words & set(term.split()))
        phrases = [
            (term, n)
            for term, n in counts[False].most_common()
            if n >= MIN_EXCEPTION_COUNT and not counts[True].get(term)
        ][:5]
        proposals.append(ExceptionProposal(rule, len(marked), not_needed, phrases))
    return proposals
