"""Insights: what a team's past escalations say, for a period. Reads only (selectors).

Every figure is an aggregate query over one team's escalations opened in the
period, read through the esc_insights index (team, created_at), which on
PostgreSQL includes every column read here: a year of rows is then an
index-only scan. Names (agents, rules, users) are read afterwards by id, so
the aggregates stay on one table.

Percentiles: PostgreSQL computes them (`percentile_cont`, linear
interpolation). SQLite has no percentile aggregate, so there the durations
of the filtered rows (one column, seconds computed by SQLite, plus the group
key) are fetched and the same interpolation is done in Python: the rows of
one team's period, which the embedded default's small teams keep small
(bench/insights.py: 7,000 rows in ~170 ms a page). The figures agree on
both databases to the millisecond.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.postgres.fields import ArrayField
from django.db import connection, transaction
from django.db.models import (
    CharField,
    Count,
    DateTimeField,
    F,
    FloatField,
    Func,
    Q,
    QuerySet,
)
from django.db.models.aggregates import Aggregate
from django.db.models.functions import TruncDay, TruncWeek

from agents.models import Agent, EscalationRule
from escalations.choices import Severity
from escalations.models import Escalation, Status

# A rule is flagged noisy with at least this many escalations in the period, of which at
# least this share were dismissed or marked not needed.
NOISY_MIN_ESCALATIONS = 10
NOISY_SHARE = 0.6
# An agent is flagged when it opened more than this many times its team's median per agent
# (the median over the team's agents that escalated in the period).
OUTLIER_FACTOR = 2

# Severities bottom to top in the chart's stacks.
SEVERITY_ORDER = [Severity.INFO, Severity.WARNING, Severity.CRITICAL]


# --- Percentiles ---------------------------------------------------------------------------


class _SecondsBetween(Func):
    """end - start in seconds, as a float computed by the database itself.

    PostgreSQL: DATE_PART, not EXTRACT, which returns numeric since PostgreSQL 14 and sorts
    slower (a percentile query over 74,000 rows: 75 ms with EXTRACT, 53 ms with DATE_PART).
    SQLite: julianday(), built in, rather than Django's datetime difference, a Python function
    called per row (the default page at 100,000 rows spent most of its time there). Its
    precision is about 50 µs, far below the seconds these durations are shown in.
    """

    arg_joiner = " - "
    template = "DATE_PART('epoch', %(expressions)s)"
    output_field = FloatField()

    def __init__(self, end: str, start: str):
        super().__init__(F(end), F(start))

    def as_sqlite(self, compiler, connection, **extra):
        return super().as_sql(
            compiler,
            connection,
            template="((julianday(%(expressions)s)) * 86400.0)",
            arg_joiner=") - julianday(",
            **extra,
        )


class _PercentilesCont(Aggregate):
    """percentile_cont at every FRACTIONS at once: one sort of the group's values, not one per
    fraction (measured: 77 -> 45 ms per query over 74,000 rows)."""

    function = "percentile_cont"
    template = "%(function)s(%(fractions)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = ArrayField(FloatField())

    def __init__(self, expression, **extra):
        # Constants of this module, never input: written into the SQL as an array literal.
        fractions = "ARRAY[" + ", ".join(repr(float(f)) for f in FRACTIONS.values()) + "]::float8[]"
        super().__init__(expression, fractions=fractions, **extra)


def percentile(values: list[float], fraction: float) -> float | None:
    """PostgreSQL's percentile_cont: linear interpolation between the closest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _duration(end: str) -> _SecondsBetween:
    return _SecondsBetween(end, "created_at")


# Time to claim: the (last) claim; time to answer: a person's answer (not the agent
# withdrawing, not a timeout policy), both from when the escalation opened.
_CLAIMED = Q(claimed_at__isnull=False)
_ANSWERED = Q(responder__isnull=False, closed_at__isnull=False)
DURATIONS = {"claim": ("claimed_at", _CLAIMED), "answer": ("closed_at", _ANSWERED)}
FRACTIONS = {"p50": 0.5, "p90": 0.9}


def _percentiles_in_sql(rows: QuerySet, key: str) -> dict[Any, dict[str, float | None]]:
    annotations = {
        name: _PercentilesCont(_duration(end), filter=condition)
        for name, (end, condition) in DURATIONS.items()
    }
    return {
        row[key]: {
            f"{name}_{label}": row[name][index] if row[name] is not None else None
            for name in DURATIONS
            for index, label in enumerate(FRACTIONS)
        }
        for row in rows.order_by().values(key).annotate(**annotations)
    }


def _percentiles_in_python(rows: QuerySet, key: str) -> dict[Any, dict[str, float | None]]:
    durations: dict[Any, dict[str, list[float]]] = defaultdict(lambda: {"claim": [], "answer": []})
    for name, (end, condition) in DURATIONS.items():
        for group, took in rows.filter(condition).order_by().values_list(key, _duration(end)):
            durations[group][name].append(took)
    return {
        group: {
            f"{name}_{label}": percentile(values, fraction)
            for name, values in by_name.items()
            for label, fraction in FRACTIONS.items()
        }
        for group, by_name in durations.items()
    }


def percentiles_by(rows: QuerySet, key: str) -> dict[Any, dict[str, float | None]]:
    """{group: {"claim_p50": seconds, "claim_p90", "answer_p50", "answer_p90"}} (None: no such rows)."""
    if connection.vendor == "postgresql":
        return _percentiles_in_sql(rows, key)
    return _percentiles_in_python(rows, key)


@contextlib.contextmanager
def roomy_sorts() -> Iterator[None]:
    """Run the insights' reads with room to sort in memory (PostgreSQL; elsewhere a no-op).

    The percentiles sort every row of the period by group, then by duration. With the
    default 4 MB work_mem a year (900,000 rows) spilled to disk and the planner walked
    the agent_id index with a heap visit per row instead: 2.9 s for one query, 1.2 s with
    128 MB (measured, bench/insights.py's data). SET LOCAL ends with this transaction.
    """
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL work_mem = '{SORT_MEMORY}'")
        yield


SORT_MEMORY = "128MB"


# --- The figures -----------------------------------------------------------------------------


@dataclass
class GroupStats:
    """One agent's, rule's or supervisor's figures for the period."""

    key: Any
    label: str
    team_id: int | None = None
    detail: str = ""  # the rule's agent
    count: int = 0
    dismissed: int = 0
    needed: int = 0
    not_needed: int = 0
    noise: int = 0  # dismissed or marked not needed (one escalation counts once)
    response_breaches: int = 0
    resolution_breaches: int = 0
    claim_p50: float | None = None
    claim_p90: float | None = None
    answer_p50: float | None = None
    answer_p90: float | None = None
    flagged: bool = False
    flag_reason: str = ""

    @property
    def share_dismissed(self) -> float:
        return self.dismissed / self.count if self.count else 0.0

    @property
    def share_not_needed(self) -> float:
        return self.not_needed / self.count if self.count else 0.0

    @property
    def share_noise(self) -> float:
        return self.noise / self.count if self.count else 0.0


# Aliased with a prefix: an alias equal to a column's name ("needed") would make Django
# read the other annotations' `needed` as that alias.
_COUNTS = {
    # Counted on included columns (COUNT(*) cannot take a filter in Django), so PostgreSQL
    # still answers from the index alone.
    "n_count": Count("severity"),
    "n_dismissed": Count("severity", filter=Q(status=Status.DISMISSED)),
    "n_needed": Count("severity", filter=Q(needed=True)),
    "n_not_needed": Count("severity", filter=Q(needed=False)),
    "n_noise": Count("severity", filter=Q(status=Status.DISMISSED) | Q(needed=False)),
    "n_response_breaches": Count("response_breached_at"),
    "n_resolution_breaches": Count("resolution_breached_at"),
}


def grouped_counts(rows: QuerySet) -> list[dict[str, Any]]:
    """The counts per (agent, rule): one GROUP BY that both the agents' and the rules' tables
    sum up (counts add up; percentiles do not, so those are read per agent and per rule)."""
    return list(rows.order_by().values("agent_id", "rule_id").annotate(**_COUNTS))


def _stats_by(rows: QuerySet, key: str, counts: list[dict[str, Any]] | None) -> dict[Any, GroupStats]:
    stats: dict[Any, GroupStats] = {}
    for row in grouped_counts(rows) if counts is None else counts:
        item = stats.setdefault(row[key], GroupStats(key=row[key], label=""))
        for name, n in row.items():
            if name.startswith("n_"):
                setattr(item, name[2:], getattr(item, name[2:]) + n)
    for group, figures in percentiles_by(rows, key).items():
        for name, value in figures.items():
            setattr(stats[group], name, value)
    return stats


def is_noisy(stats: GroupStats) -> bool:
    return stats.count >= NOISY_MIN_ESCALATIONS and stats.share_noise >= NOISY_SHARE


def agent_stats(rows: QuerySet, *, counts: list[dict[str, Any]] | None = None) -> list[GroupStats]:
    """Per agent, most escalations first; agents far above their team's median flagged.

    `counts`: grouped_counts(rows), when the caller has read them already.
    """
    stats = _stats_by(rows, "agent_id", counts)
    for agent in Agent.objects.filter(pk__in=list(stats)).only("name", "team_id"):
        stats[agent.pk].label, stats[agent.pk].team_id = agent.name, agent.team_id
    by_team: dict[int | None, list[GroupStats]] = defaultdict(list)
    for item in stats.values():
        by_team[item.team_id].append(item)
    for items in by_team.values():
        median = statistics.median(item.count for item in items)
        for item in items:
            if item.count > OUTLIER_FACTOR * median:
                item.flagged = True
                item.flag_reason = f"{item.count / median:.1f}× the team's median ({median:g})"
    return sorted(stats.values(), key=lambda item: (-item.count, item.label))


def rule_stats(rows: QuerySet, *, counts: list[dict[str, Any]] | None = None) -> list[GroupStats]:
    """Per rule (tool calls, which have none, as one row), most escalations first; noisy ones flagged."""
    stats = _stats_by(rows, "rule_id", counts)
    for rule in EscalationRule.objects.filter(pk__in=[k for k in stats if k]).select_related("agent"):
        item = stats[rule.pk]
        item.label, item.detail, item.team_id = rule.name, rule.agent.name, rule.agent.team_id
    if None in stats:
        stats[None].label = "No rule (escalate_to_human calls)"
    for item in stats.values():
        if item.key is not None and is_noisy(item):
            item.flagged = True
            item.flag_reason = f"{item.share_noise:.0%} dismissed or not needed"
    return sorted(stats.values(), key=lambda item: (-item.count, item.label))


@dataclass
class SupervisorStats:
    user_id: int
    name: str
    answered: int
    resolved: int
    dismissed: int


def supervisor_stats(rows: QuerySet) -> list[SupervisorStats]:
    """Who answered how many (responded or dismissed; timeouts and withdrawals are nobody's)."""
    # Its own GROUP BY: folding it into the chart's (bucket, severity, responder) one was slower
    # on PostgreSQL (70 ms against 25 + 19 ms at 74,000 rows).
    counts = list(
        rows.filter(responder__isnull=False)
        .order_by()
        .values("responder_id")
        .annotate(
            n=Count("severity"),
            n_resolved=Count("severity", filter=Q(status=Status.RESOLVED)),
            n_dismissed=Count("severity", filter=Q(status=Status.DISMISSED)),
        )
    )
    names = dict(
        get_user_model()
        .objects.filter(pk__in=[row["responder_id"] for row in counts])
        .values_list("pk", "username")
    )
    return sorted(
        (
            SupervisorStats(
                row["responder_id"],
                names.get(row["responder_id"], "?"),
                row["n"],
                row["n_resolved"],
                row["n_dismissed"],
            )
            for row in counts
        ),
        key=lambda item: (-item.answered, item.name),
    )


# --- Escalations over time, by severity ---------------------------------------------------------


@dataclass
class Bucket:
    start: dt.datetime
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def bucket_size(start: dt.datetime, end: dt.datetime) -> str:
    """Days up to 92 days (a bar a day stays readable), weeks beyond."""
    return "day" if end - start <= dt.timedelta(days=92) else "week"


def over_time(rows: QuerySet, *, start: dt.datetime, end: dt.datetime) -> list[Bucket]:
    """Escalations opened per day (or week) by severity, every bucket of the period present (UTC)."""
    size = bucket_size(start, end)
    counts = (
        rows.order_by()
        .annotate(bucket=_bucket_of_created_at(size))
        .values("bucket", "severity")
        .annotate(n=Count("severity"))
    )
    buckets = {bucket.start: bucket for bucket in _empty_buckets(start, end, size)}
    for row in counts:
        start_at = row["bucket"]
        if isinstance(start_at, str):  # SQLite's date(): "YYYY-MM-DD", a UTC day
            start_at = dt.datetime.fromisoformat(start_at).replace(tzinfo=dt.UTC)
        bucket = buckets.setdefault(start_at, Bucket(start_at))
        bucket.counts[row["severity"]] = bucket.counts.get(row["severity"], 0) + row["n"]
    return [buckets[key] for key in sorted(buckets)]


def _bucket_of_created_at(size: str) -> Func:
    """The UTC day, or the week starting on Monday, that created_at falls in.

    On SQLite with its built-in date() (Django's Trunc there is a Python function called
    per row); SQLite stores datetimes as UTC text, so date() of it is the UTC day.
    """
    if connection.vendor == "sqlite":
        modifiers = "" if size == "day" else ", '-6 days', 'weekday 1'"
        return Func(F("created_at"), template=f"date(%(expressions)s{modifiers})", output_field=CharField())
    trunc = TruncDay if size == "day" else TruncWeek
    return trunc("created_at", output_field=DateTimeField())


def _empty_buckets(start: dt.datetime, end: dt.datetime, size: str) -> Iterable[Bucket]:
    day = start.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if size == "week":
        day -= dt.timedelta(days=day.weekday())  # weeks start on Monday, as TruncWeek's do
    step = dt.timedelta(days=1 if size == "day" else 7)
    while day < end:
        yield Bucket(day)
        day += step


# Chart geometry (SVG user units; the SVG scales to its box).
CHART_WIDTH, CHART_HEIGHT, CHART_LEFT, CHART_BOTTOM = 720, 200, 36, 20


def chart(buckets: list[Bucket]) -> dict[str, Any]:
    """Stacked bars as SVG rectangles, drawn by the template: no JavaScript, no chart library."""
    peak = max((bucket.total for bucket in buckets), default=0)
    scale_top = max(peak, 1)
    plot_width, plot_height = CHART_WIDTH - CHART_LEFT, CHART_HEIGHT - CHART_BOTTOM
    slot = plot_width / max(len(buckets), 1)
    bar_width = max(slot * 0.8, 1)
    bars = []
    for index, bucket in enumerate(buckets):
        x = CHART_LEFT + index * slot + (slot - bar_width) / 2
        y = plot_height
        for severity in SEVERITY_ORDER:
            n = bucket.counts.get(severity, 0)
            if not n:
                continue
            height = n / scale_top * plot_height
            y -= height
            bars.append(
                {
                    "x": round(x, 2),
                    "y": round(y, 2),
                    "width": round(bar_width, 2),
                    "height": round(height, 2),
                    "severity": severity,
                    "title": f"{bucket.start:%Y-%m-%d}: {n} {severity}",
                }
            )
    labels = []
    if buckets:
        every = max(len(buckets) // 8, 1)
        for index in range(0, len(buckets), every):
            labels.append({"x": round(CHART_LEFT + index * slot, 2), "text": f"{buckets[index].start:%m-%d}"})
    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "left": CHART_LEFT,
        "plot_height": plot_height,
        "peak": peak,
        "bars": bars,
        "labels": labels,
        "total": sum(bucket.total for bucket in buckets),
    }


# --- The page's data -----------------------------------------------------------------------------


def escalations_in(*, team_ids: set[int] | None, start: dt.datetime, end: dt.datetime) -> QuerySet:
    """The escalations opened in [start, end) in these teams (None: every team)."""
    rows = Escalation.objects.filter(created_at__gte=start, created_at__lt=end)
    return rows if team_ids is None else rows.filter(team_id__in=team_ids)


# --- One rule's precision (its admin page) -------------------------------------------------------


@dataclass
class Precision:
    total: int
    needed: int
    not_needed: int
    unmarked: int

    @property
    def share_needed(self) -> float | None:
        """Of the marked ones: unmarked escalations say nothing either way."""
        marked = self.needed + self.not_needed
        return self.needed / marked if marked else None


def rule_precision(rule_id: int) -> Precision:
    """Of the escalations this rule opened (or heads), how many were marked needed, not needed, neither."""
    counts = Escalation.objects.filter(rule_id=rule_id).aggregate(
        total=Count("pk"),
        n_needed=Count("pk", filter=Q(needed=True)),
        n_not_needed=Count("pk", filter=Q(needed=False)),
    )
    needed, not_needed = counts["n_needed"], counts["n_not_needed"]
    return Precision(counts["total"], needed, not_needed, counts["total"] - needed - not_needed)
