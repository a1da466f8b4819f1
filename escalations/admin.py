"""Escalations in the admin: read-only rows with their audit, and actions that go through the services."""

from collections.abc import Callable

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.core.exceptions import ValidationError
from simple_history.admin import SimpleHistoryAdmin

from escalations import services, team_settings
from escalations.models import BusinessHours, Escalation, Event, Holiday, UrgencyTarget, WorkingPeriod
from escalations.selectors import allowed_verbs
from supervisors.admin_scope import ReadOnlyAdmin, TeamRoleInline, TeamScopedAdmin
from supervisors.models import Role


class EscalationActionForm(ActionForm):
    note = forms.CharField(
        required=False,
        label="Guidance or note",
        help_text="Respond needs guidance; release and dismiss take an optional note.",
        widget=forms.TextInput(attrs={"size": 60}),
    )


def _run_on_each(modeladmin, request, queryset, verb: str, action: Callable) -> None:
    """Apply a service call to each selected escalation and say plainly what happened."""
    done, refused = [], []
    for escalation in queryset.order_by("pk"):
        try:
            action(escalation, request.POST.get("note", "").strip())
            done.append(f"#{escalation.pk}")
        except services.EscalationError as refusal:
            refused.append(f"#{escalation.pk}: {refusal.message}")
        except ValidationError as invalid:
            refused.append(f"#{escalation.pk}: {' '.join(invalid.messages)}")
    if done:
        modeladmin.message_user(request, f"{verb} {', '.join(done)}.", messages.SUCCESS)
    for line in refused:
        modeladmin.message_user(request, line, messages.ERROR)


@admin.register(Escalation)
class EscalationAdmin(ReadOnlyAdmin, TeamScopedAdmin, SimpleHistoryAdmin):
    view_role = Role.SUPERVISOR
    action_form = EscalationActionForm
    actions = ["claim", "release", "respond", "dismiss"]
    list_display = [
        "id",
        "severity",
        "status",
        "reason",
        "agent",
        "team",
        "channel",
        "claimed_by",
        "created_at",
    ]
    list_filter = ["status", "severity", "urgency", "channel", "origin", "team"]
    search_fields = ["reason", "topic", "area", "conversation__external_id", "agent__name"]

    def get_list_display(self, request):
        def allowed_now(escalation: Escalation) -> str:
            # The same rules as the actions' services and the console's buttons.
            return ", ".join(allowed_verbs(escalation, request.user)) or "—"

        allowed_now.short_description = "You may"
        return [*super().get_list_display(request), allowed_now]

    list_select_related = ["agent", "team", "claimed_by"]
    date_hierarchy = "created_at"

    @admin.action(description="Claim")
    def claim(self, request, queryset):
        _run_on_each(
            self,
            request,
            queryset,
            "Claimed",
            lambda e, note: services.claim(escalation_id=e.pk, user=request.user, reason=note),
        )

    @admin.action(description="Release to the queue")
    def release(self, request, queryset):
        _run_on_each(
            self,
            request,
            queryset,
            "Released",
            lambda e, note: services.release(escalation_id=e.pk, user=request.user, reason=note),
        )

    @admin.action(description="Respond & resume (guidance required)")
    def respond(self, request, queryset):
        _run_on_each(
            self,
            request,
            queryset,
            "Responded to",
            lambda e, note: services.respond(escalation_id=e.pk, user=request.user, guidance=note),
        )

    @admin.action(description="Dismiss (the agent proceeds alone)")
    def dismiss(self, request, queryset):
        _run_on_each(
            self,
            request,
            queryset,
            "Dismissed",
            lambda e, note: services.dismiss(escalation_id=e.pk, user=request.user, note=note),
        )


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin, TeamScopedAdmin):
    view_role = Role.SUPERVISOR
    list_display = ["id", "type", "escalation", "team", "actor", "actor_agent", "created_at"]
    list_filter = ["type", "team"]
    list_select_related = ["escalation", "team", "actor", "actor_agent"]


# --- Targets and business hours: a team's owners edit them, superusers the defaults ---------


class SavesTeamSettings(admin.ModelAdmin):
    """A page whose own row or inlines are team settings (targets, hours, policy, ladder):
    they are saved and deleted through escalations.team_settings, like the API's writes, so
    the team's settings stamp moves and stopped climbs restart there, not in hooks here."""

    def save_model(self, request, obj, form, change):
        if isinstance(obj, team_settings.SETTINGS_MODELS):
            team_settings.team_settings_save(saved=[obj])
        else:
            super().save_model(request, obj, form, change)

    def delete_model(self, request, obj):
        if isinstance(obj, team_settings.SETTINGS_MODELS):
            team_settings.team_settings_save(deleted=[obj])
        else:
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        if issubclass(queryset.model, team_settings.SETTINGS_MODELS):
            team_settings.team_settings_save(deleted=list(queryset))
        else:
            super().delete_queryset(request, queryset)

    def save_formset(self, request, form, formset, change):
        if not issubclass(formset.model, team_settings.SETTINGS_MODELS):
            return super().save_formset(request, form, formset, change)
        saved = formset.save(commit=False)  # deletes nothing yet: those are in deleted_objects
        team_settings.team_settings_save(saved=saved, deleted=formset.deleted_objects)
        formset.save_m2m()  # a ladder level's people, in the admin's same transaction


@admin.register(UrgencyTarget)
class UrgencyTargetAdmin(SavesTeamSettings, TeamScopedAdmin):
    view_role = Role.CONTRIBUTOR
    edit_role = Role.OWNER
    list_display = [
        "urgency",
        "team_or_default",
        "response_minutes",
        "resolution_minutes",
        "claim_minutes",
        "reminder_minutes",
    ]
    list_filter = ["urgency", "team"]
    list_select_related = ["team"]

    def team_id_of(self, obj: UrgencyTarget) -> int | None:
        return obj.team_id  # None for a global default: no team's role reaches it

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        # An empty team would make a global default, which only a superuser may set.
        form.base_fields["team"].required = not request.user.is_superuser
        return form

    @admin.display(description="Team", ordering="team__name")
    def team_or_default(self, target: UrgencyTarget) -> str:
        return target.team.name if target.team else "Default (every team without its own)"


class _BusinessHoursInline(TeamRoleInline, admin.TabularInline):
    role = Role.OWNER
    extra = 1


class WorkingPeriodInline(_BusinessHoursInline):
    model = WorkingPeriod


class HolidayInline(_BusinessHoursInline):
    model = Holiday


@admin.register(BusinessHours)
class BusinessHoursAdmin(SavesTeamSettings, TeamScopedAdmin):
    """Without a row a team works around the clock; with one, targets count only its working time."""

    view_role = Role.CONTRIBUTOR
    edit_role = Role.OWNER
    list_display = ["team", "time_zone"]
    inlines = [WorkingPeriodInline, HolidayInline]
