"""Filters and orderings of GET /api/v1/escalations/."""

from __future__ import annotations

import datetime as dt

import django_filters
from rest_framework.filters import OrderingFilter

from agents.models import Channel
from escalations.choices import Severity, Urgency
from escalations.models import Escalation, Status


class EscalationFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=Status.choices)
    severity = django_filters.MultipleChoiceFilter(choices=Severity.choices)
    urgency = django_filters.MultipleChoiceFilter(choices=Urgency.choices)
    channel = django_filters.MultipleChoiceFilter(choices=Channel.choices)
    agent = django_filters.CharFilter(field_name="agent__slug", help_text="The agent's slug.")
    team = django_filters.CharFilter(field_name="team__slug", help_text="The team's slug.")
    topic = django_filters.CharFilter()
    area = django_filters.CharFilter()
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Escalation
        fields: list[str] = []

    def is_valid(self) -> bool:
        valid = super().is_valid()
        # django-filter reads an empty value as "no filter"; a time range given as nothing is
        # more likely a client's bug than a wish to see everything, so say so.
        for name in ("created_after", "created_before"):
            if name in self.data and not self.data[name].strip():
                self.form.add_error(name, "Enter a date and time (ISO 8601), or leave the parameter out.")
                valid = False
            elif valid and self.form.cleaned_data.get(name) is not None:
                # ISO 8601 allows offsets up to ±23:59, PostgreSQL up to ±15:59 (a 500 there):
                # compare in UTC, which also keeps SQLite's text comparison right.
                try:
                    self.form.cleaned_data[name] = self.form.cleaned_data[name].astimezone(dt.UTC)
                except OverflowError:
                    self.form.add_error(name, "This date and time is out of range.")
                    valid = False
        return valid


class EscalationOrdering(OrderingFilter):
    """?ordering=created|-created|severity|-severity|urgency|-urgency|due|-due (default -created).

    Cursor pagination reads get_ordering() from here; its cursor position is
    the first field, with the id as tie-breaker.
    """

    aliases = {
        "created": "created_at",
        "severity": "severity_rank",
        "urgency": "urgency_rank",
        "due": "response_due_at",
    }

    def get_ordering(self, request, queryset, view) -> list[str]:
        term = request.query_params.get(self.ordering_param, "").strip()
        descending = term.startswith("-")
        field = self.aliases.get(term.lstrip("-"))
        if field is None:
            return ["-created_at", "-id"]
        sign = "-" if descending else ""
        return [f"{sign}{field}", f"{sign}id"]

    def filter_queryset(self, request, queryset, view):
        return queryset.order_by(*self.get_ordering(request, queryset, view))

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": self.ordering_param,
                "required": False,
                "in": "query",
                "description": "created, severity, urgency or due; - for descending. Default -created.",
                "schema": {"type": "string"},
            }
        ]
