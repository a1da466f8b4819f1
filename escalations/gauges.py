"""The queue's gauges for /metrics (escalation_project/metrics.py asks at scrape time; escalations.apps
registers them)."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.metrics_core import GaugeMetricFamily

from escalations.choices import Severity
from escalations.models import Status
from escalations.selectors import active_counts_every_team
from supervisors.models import Team


def queue_gauges() -> Iterable[GaugeMetricFamily]:
    counts = active_counts_every_team()
    gauge = GaugeMetricFamily(
        "escalations_queue",
        "Escalations waiting (open) or being handled (claimed), per team and severity.",
        labels=["team", "severity", "status"],
    )
    # Every combination, zeros included: a series that vanishes at 0 would read as "no data".
    for team_id, slug in Team.objects.order_by("slug").values_list("id", "slug"):
        for severity in Severity.values:
            for status in (Status.OPEN, Status.CLAIMED):
                gauge.add_metric([slug, severity, status], counts.get((team_id, status, severity), 0))
    yield gauge
