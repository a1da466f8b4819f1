"""The console's forms: query-string filters (read) and the answers (write, through escalations.services)."""

from __future__ import annotations

from django import forms
from django.db.models import Q, QuerySet

from agents.models import Agent, Channel, SuggestionTarget
from escalations.choices import Severity, Urgency
from escalations.models import Escalation, Status
from escalations.selectors import QUEUE_SORTS

SORT_LABELS = {"severity": "Severity, oldest first", "newest": "Newest first", "due": "Due soonest"}
OUTCOMES = [(Status.RESOLVED, "Resolved"), (Status.DISMISSED, "Dismissed"), (Status.WITHDRAWN, "Withdrawn")]


def _blank(label: str, choices) -> list[tuple[str, str]]:
    return [("", label), *[(str(value), str(name)) for value, name in choices]]


class _ScopedFilters(forms.Form):
    """Team and agent choices are the viewer's own, so an unknown slug is simply not a choice."""

    team = forms.ChoiceField(required=False)
    agent = forms.ChoiceField(required=False)
    severity = forms.ChoiceField(required=False, choices=_blank("Any severity", Severity.choices))

    def __init__(self, data, *, agents: QuerySet[Agent]):
        super().__init__(data)
        agents = list(agents.select_related("team").order_by("team__name", "name"))
        teams = {agent.team.slug: agent.team.name for agent in agents}
        self.fields["team"].choices = _blank("All teams", sorted(teams.items(), key=lambda item: item[1]))
        self.fields["agent"].choices = _blank("All agents", [(agent.slug, agent.name) for agent in agents])

    def filter(self, queryset: QuerySet[Escalation]) -> QuerySet[Escalation]:
        if not self.is_valid():  # a stale or hand-edited URL shows everything rather than an error page
            return queryset
        data = self.cleaned_data
        lookups = {"team__slug": data["team"], "agent__slug": data["agent"], "severity": data["severity"]}
        return queryset.filter(**{field: value for field, value in lookups.items() if value})

    def value(self, name: str) -> str:
        return self.cleaned_data.get(name, "") if self.is_valid() else ""


class QueueFilters(_ScopedFilters):
    urgency = forms.ChoiceField(required=False, choices=_blank("Any urgency", Urgency.choices))
    channel = forms.ChoiceField(required=False, choices=_blank("Any channel", Channel.choices))
    claimed = forms.ChoiceField(
        required=False, choices=[("", "Anyone's"), ("mine", "Claimed by me"), ("unclaimed", "Unclaimed")]
    )
    sort = forms.ChoiceField(required=False, choices=[(key, SORT_LABELS[key]) for key in QUEUE_SORTS])

    def filter_for(self, queryset: QuerySet[Escalation], user) -> QuerySet[Escalation]:
        queryset = self.filter(queryset)
        if not self.is_valid():
            return queryset
        data = self.cleaned_data
        for field in ("urgency", "channel"):
            if data[field]:
                queryset = queryset.filter(**{field: data[field]})
        if data["claimed"] == "mine":
            queryset = queryset.filter(claimed_by=user)
        elif data["claimed"] == "unclaimed":
            queryset = queryset.filter(claimed_by__isnull=True)
        return queryset

    @property
    def sort_key(self) -> str:
        return self.value("sort") or "severity"


class HistoryFilters(_ScopedFilters):
    q = forms.CharField(required=False, max_length=200, strip=True)
    outcome = forms.ChoiceField(required=False, choices=_blank("Any outcome", OUTCOMES))

    def filter(self, queryset: QuerySet[Escalation]) -> QuerySet[Escalation]:
        queryset = super().filter(queryset)
        if not self.is_valid():
            return queryset
        data = self.cleaned_data
        if data["outcome"]:
            queryset = queryset.filter(status=data["outcome"])
        if data["q"]:
            text = data["q"]
            queryset = queryset.filter(
                Q(reason__icontains=text)
                | Q(agent__name__icontains=text)
                | Q(conversation__external_id__icontains=text)
            )
        return queryset


class RespondForm(forms.Form):
    guidance = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "What should the agent do or say next?"}),
        error_messages={"required": "Write the guidance the agent should continue with."},
    )


class DismissForm(forms.Form):
    note = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Optional: why no human answer is needed"}),
    )


class OnDutyForm(forms.Form):
    on_duty = forms.TypedChoiceField(
        choices=[("true", "On duty"), ("false", "Off duty")], coerce=lambda value: value == "true"
    )
    team = forms.IntegerField(required=False, help_text="Empty: every team of yours.")
    next = forms.CharField(required=False)


INSIGHT_PERIODS = [("7", "7 days"), ("30", "30 days"), ("90", "90 days"), ("365", "365 days")]
INSIGHT_TABLES = ["agents", "rules", "supervisors", "over_time"]
INSIGHT_DEFAULT_DAYS = 30
# A custom range spans at most this many days (a year, plus a leap day).
INSIGHT_MAX_DAYS = 366


class InsightFilters(forms.Form):
    """The insights page's query string: a period (`period` days, or `from`–`to`), a team, a format.

    Unlike the queue's filters, bad values are refused (400) rather than ignored: a
    figure for another period than the one asked would be worse than none.
    """

    team = forms.ChoiceField(required=False)
    period = forms.ChoiceField(required=False, choices=INSIGHT_PERIODS)
    format = forms.ChoiceField(required=False, choices=[("", "Page"), ("html", "Page"), ("csv", "CSV")])
    table = forms.ChoiceField(required=False, choices=[(name, name) for name in INSIGHT_TABLES])

    def __init__(self, data, *, teams: list[tuple[str, str]]):
        if not data.get("period") and not data.get("from") and not data.get("to"):
            # The default period, spelled out so the select shows it rather than its first option.
            data = data.copy()
            data["period"] = str(INSIGHT_DEFAULT_DAYS)
        super().__init__(data)
        self.fields["team"].choices = _blank("All my teams", teams)
        # `from` is a Python keyword, so these two are added by name.
        self.fields["from"] = forms.DateField(required=False, input_formats=["%Y-%m-%d"])
        self.fields["to"] = forms.DateField(required=False, input_formats=["%Y-%m-%d"])

    def clean(self):
        data = super().clean()
        start, end = data.get("from"), data.get("to")
        if (start is None) != (end is None) and not self.has_error("from") and not self.has_error("to"):
            raise forms.ValidationError("Give both from and to (YYYY-MM-DD), or a period.")
        if start and end:
            if start > end:
                raise forms.ValidationError("from must be on or before to.")
            if (end - start).days + 1 > INSIGHT_MAX_DAYS:
                raise forms.ValidationError(f"A range spans at most {INSIGHT_MAX_DAYS} days.")
        if data.get("format") == "csv" and not data.get("table"):
            raise forms.ValidationError(f"Say which table to download: table={'|'.join(INSIGHT_TABLES)}.")
        return data


class AuditFilters(forms.Form):
    """The audit log's query string. Bad values are a 400 (a log filtered other than asked misleads)."""

    q = forms.CharField(required=False, max_length=200, strip=True)
    type = forms.ChoiceField(
        required=False,
        choices=[
            ("", "Every kind"),
            ("agent", "Agents"),
            ("rule", "Rules"),
            ("escalation", "Escalations"),
            ("endpoint", "Webhook endpoints"),
            ("team", "Teams"),
            ("membership", "Memberships"),
        ],
    )
    user = forms.CharField(required=False, max_length=150, strip=True)
    object = forms.IntegerField(required=False, min_value=1)

    def __init__(self, data):
        super().__init__(data)
        self.fields["from"] = forms.DateField(required=False, input_formats=["%Y-%m-%d"])
        self.fields["to"] = forms.DateField(required=False, input_formats=["%Y-%m-%d"])

    def clean(self):
        data = super().clean()
        if data.get("from") and data.get("to") and data["from"] > data["to"]:
            raise forms.ValidationError("from must be on or before to.")
        if data.get("object") and not data.get("type"):
            raise forms.ValidationError("An object id needs its type (type=agent|rule|escalation|endpoint).")
        return data


class SuggestionFilters(forms.Form):
    agent = forms.ChoiceField(required=False)
    days = forms.IntegerField(required=False, min_value=1, max_value=365)

    def __init__(self, data, *, agents: list[tuple[str, str]]):
        super().__init__(data)
        self.fields["agent"].choices = agents


class DraftRuleForm(forms.Form):
    agent = forms.ChoiceField()
    phrase = forms.CharField(max_length=200, strip=True)

    def __init__(self, data, *, agents: list[tuple[str, str]]):
        super().__init__(data)
        self.fields["agent"].choices = agents


class SuggestionAnswerForm(forms.Form):
    """Accept or dismiss one learning suggestion, as the rule page showed it (agents.learning)."""

    escalation = forms.IntegerField(min_value=1)
    target = forms.ChoiceField(choices=SuggestionTarget.choices)
    # Not stripped: it must equal the suggestion on offer, character for character.
    text = forms.CharField(max_length=5000, strip=False)
