"""Webhook endpoints for their team's contributors and owners; deliveries and attempts read-only.

Every write goes through webhooks.services; the secret is shown once, in a
message, when an endpoint is created or its secret rotated.
"""

from __future__ import annotations

import datetime as dt
from functools import partial

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from escalations.models import EventType
from supervisors.admin_scope import ReadOnlyAdmin, TeamScopedAdmin
from webhooks import sender, services
from webhooks.models import Attempt, AttemptOutcome, Delivery, Endpoint

RECENT_DELIVERIES = 20
# Success rate and last error cover this window: old history should not hide today's outage.
STATS_WINDOW = dt.timedelta(days=7)


class EndpointForm(forms.ModelForm):
    event_types = forms.MultipleChoiceField(
        choices=EventType.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every event type, including ones added later.",
    )

    class Meta:
        model = Endpoint
        fields = ["team", "url", "description", "event_types", "active"]
        # Receivers are https in production; a bare host gets https:// (Django 6's default too).
        field_classes = {"url": partial(forms.URLField, assume_scheme="https")}

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        sender.validate_url(url)
        return url


class ReplayForm(forms.Form):
    since = forms.DateTimeField(
        help_text="Failed deliveries of events from this time on are sent again (YYYY-MM-DD HH:MM)."
    )


def _show_secret(request: HttpRequest, endpoint: Endpoint, verb: str) -> None:
    messages.warning(
        request,
        f"{verb} {endpoint.url}. Its signing secret, shown only now: {endpoint.secret}",
    )


@admin.register(Endpoint)
class EndpointAdmin(TeamScopedAdmin):
    form = EndpointForm
    list_display = ["url", "team", "active", "success_rate", "last_error", "created_at"]
    list_filter = ["team", "active"]
    search_fields = ["url", "description"]
    readonly_fields = [
        "disabled_at",
        "disabled_reason",
        "resting_until",
        "success_rate",
        "last_error",
        "recent_deliveries",
    ]
    actions = ["send_test_event", "rotate_secret"]

    def get_fieldsets(self, request, obj=None):
        main = (None, {"fields": ["team", "url", "description", "event_types", "active"]})
        if obj is None:
            return [main]
        health = (
            "Health",
            {"fields": ["disabled_at", "disabled_reason", "resting_until", "success_rate", "last_error"]},
        )
        return [main, health, ("Recent deliveries", {"fields": ["recent_deliveries"]})]

    def get_queryset(self, request):
        since = timezone.now() - STATS_WINDOW
        recent = Q(deliveries__attempts__started_at__gte=since)
        return (
            super()
            .get_queryset(request)
            .select_related("team")
            .annotate(
                attempts_recent=Count("deliveries__attempts", filter=recent),
                successes_recent=Count(
                    "deliveries__attempts",
                    filter=recent & Q(deliveries__attempts__outcome=AttemptOutcome.SUCCEEDED),
                ),
            )
        )

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data[name] for name in ("url", "description", "event_types", "active")}
        if change:
            services.endpoint_update(endpoint_id=obj.pk, data=data)
            if "active" in form.changed_data and data["active"]:
                replay = reverse("admin:webhooks_endpoint_replay", args=[obj.pk])
                messages.info(
                    request,
                    format_html(
                        "Re-enabled. <a href='{}'>Replay the deliveries that failed since a time…</a>", replay
                    ),
                )
            return
        created = services.endpoint_create(team=form.cleaned_data["team"], **data)
        # The admin's redirect and log entry need the saved row on `obj`.
        obj.pk, obj.secret, obj._state.adding = created.pk, created.secret, False
        _show_secret(request, created, "Created")

    def delete_model(self, request, obj):
        services.endpoint_delete(endpoint_id=obj.pk)

    def delete_queryset(self, request, queryset):
        # "Delete selected": through the service too, which tells every process (its stamp).
        for endpoint in queryset:
            services.endpoint_delete(endpoint_id=endpoint.pk)

    @admin.display(description="Success rate (7 days)")
    def success_rate(self, endpoint: Endpoint) -> str:
        total = getattr(endpoint, "attempts_recent", None)
        if total is None:
            return "—"
        return f"{endpoint.successes_recent / total:.0%} of {total}" if total else "no attempts"

    @admin.display(description="Last error")
    def last_error(self, endpoint: Endpoint) -> str:
        failed = (
            Delivery.objects.filter(endpoint=endpoint).exclude(last_error="").order_by("-updated_at").first()
        )
        return f"{failed.updated_at:%Y-%m-%d %H:%M} {failed.last_error}" if failed else "—"

    @admin.display(description="Deliveries")
    def recent_deliveries(self, endpoint: Endpoint) -> str:
        deliveries = (
            Delivery.objects.filter(endpoint=endpoint)
            .select_related("event")
            .order_by("-id")[:RECENT_DELIVERIES]
        )
        rows = format_html_join(
            "",
            "<tr><td><a href='{}'>{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    reverse("admin:webhooks_delivery_change", args=[d.pk]),
                    d.webhook_id,
                    d.event.type,
                    d.status,
                    d.attempt_count,
                    d.last_status_code or "—",
                    d.last_error or "",
                )
                for d in deliveries
            ),
        )
        replay = reverse("admin:webhooks_endpoint_replay", args=[endpoint.pk])
        return format_html(
            "<table><thead><tr><th>webhook-id</th><th>Event</th><th>Status</th><th>Attempts</th>"
            "<th>Last code</th><th>Last error</th></tr></thead><tbody>{}</tbody></table>"
            "<p><a href='{}'>Replay failed deliveries since a time…</a></p>",
            rows or mark_safe("<tr><td colspan='6'>None yet.</td></tr>"),
            replay,
        )

    @admin.action(description="Send a test event", permissions=["change"])
    def send_test_event(self, request, queryset):
        for endpoint in queryset:
            result = services.endpoint_send_test(endpoint_id=endpoint.pk)
            if result.status_code is not None and 200 <= result.status_code < 300:
                messages.success(request, f"{endpoint.url} answered {result.status_code}.")
            else:
                problem = result.error or f"HTTP {result.status_code}"
                messages.error(request, f"{endpoint.url}: {problem}")

    @admin.action(
        description="Rotate secret (the old one signs too, for a grace period)", permissions=["change"]
    )
    def rotate_secret(self, request, queryset):
        for endpoint in queryset:
            _show_secret(request, services.endpoint_rotate_secret(endpoint_id=endpoint.pk), "Rotated")

    def get_urls(self):
        replay = path(
            "<int:object_id>/replay/",
            self.admin_site.admin_view(self.replay_view),
            name="webhooks_endpoint_replay",
        )
        return [replay, *super().get_urls()]

    def replay_view(self, request, object_id: int):
        endpoint = self.get_object(request, object_id)
        if endpoint is None or not self.has_change_permission(request, endpoint):
            raise Http404
        form = ReplayForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            count = services.deliveries_replay_failed(
                endpoint_id=endpoint.pk, since=form.cleaned_data["since"]
            )
            messages.success(request, f"{count} failed deliveries queued again.")
            return HttpResponseRedirect(reverse("admin:webhooks_endpoint_change", args=[endpoint.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": endpoint,
            "title": f"Replay failed deliveries: {endpoint.url}",
            "form": form,
        }
        return TemplateResponse(request, "admin/webhooks/endpoint/replay.html", context)


class AttemptInline(admin.TabularInline):
    model = Attempt
    extra = 0
    can_delete = False
    fields = ["number", "started_at", "duration_ms", "status_code", "outcome", "error", "response_excerpt"]
    readonly_fields = fields

    # The parent delivery's page is already scoped to the viewer's teams.
    def has_view_permission(self, request, obj=None):
        return True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Delivery)
class DeliveryAdmin(TeamScopedAdmin, ReadOnlyAdmin):
    team_lookup = "endpoint__team"
    list_display = [
        "webhook_id",
        "endpoint",
        "event",
        "status",
        "attempt_count",
        "last_status_code",
        "updated_at",
    ]
    list_filter = ["status", "endpoint__team"]
    list_select_related = ["endpoint", "event"]
    inlines = [AttemptInline]
    actions = ["redeliver"]

    # Rows written only by the services; the action below is the one thing a person does here.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_redeliver_permission(self, request) -> bool:
        return TeamScopedAdmin.has_change_permission(self, request)

    @admin.action(description="Redeliver now (same webhook-id)", permissions=["redeliver"])
    def redeliver(self, request, queryset):
        queued = sum(services.delivery_redeliver(delivery_id=delivery.pk) for delivery in queryset)
        messages.success(request, f"{queued} deliveries queued again.")
        if queued < len(queryset):
            messages.info(request, f"{len(queryset) - queued} were pending or retrying: queued already.")
