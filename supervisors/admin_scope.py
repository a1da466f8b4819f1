"""Admin permissions from team memberships instead of Django's per-model permissions.

A staff user sees and edits only the objects of the teams where their role is
high enough; superusers see everything. Also records a change reason for the
audit on every admin save.
"""

from django.contrib import admin
from django.contrib.admin.utils import get_fields_from_path
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from supervisors.models import Role
from supervisors.selectors import team_ids_with_role


class TeamScopedAdmin(admin.ModelAdmin):
    team_lookup = "team"  # the ORM path from this model to its Team
    view_role = Role.CONTRIBUTOR
    edit_role = Role.CONTRIBUTOR

    def team_id_of(self, obj: Model) -> int:
        target = obj
        for part in self.team_lookup.split("__"):
            target = getattr(target, part)
        return target.pk

    def _allows(self, request: HttpRequest, role: Role, obj: Model | None) -> bool:
        team_ids = team_ids_with_role(request.user, role)
        if team_ids is None:
            return True
        if obj is None:
            return bool(team_ids)
        return self.team_id_of(obj) in team_ids

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        team_ids = team_ids_with_role(request.user, self.view_role)
        if team_ids is None:
            return queryset
        return queryset.filter(**{f"{self.team_lookup}__in": team_ids})

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._allows(request, self.view_role, None)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._allows(request, self.view_role, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._allows(request, self.edit_role, None)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._allows(request, self.edit_role, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._allows(request, self.edit_role, obj)

    def get_list_filter(self, request: HttpRequest) -> list:
        # A filter on a relation lists every related row by default, so another team's
        # name (and its agents) would show in the sidebar; offer only those the user's rows use.
        return [
            (name, admin.RelatedOnlyFieldListFilter)
            if isinstance(name, str) and get_fields_from_path(self.model, name)[-1].is_relation
            else name
            for name in super().get_list_filter(request)
        ]

    # Foreign keys whose choices are narrowed to the teams the user may edit:
    # field name -> the lookup from the related model to its team id.
    team_scoped_choices = {"team": "pk", "agent": "team"}

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        lookup = self.team_scoped_choices.get(db_field.name)
        if lookup is not None:
            team_ids = team_ids_with_role(request.user, self.edit_role)
            choices = db_field.related_model.objects.all()
            kwargs["queryset"] = (
                choices if team_ids is None else choices.filter(**{f"{lookup}__in": team_ids}).distinct()
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        obj._change_reason = change_reason(form, change)
        super().save_model(request, obj, form, change)

    def save_formset(self, request, form, formset, change):
        for inline_form in formset.forms:
            inline_form.instance._change_reason = change_reason(inline_form, bool(inline_form.instance.pk))
        super().save_formset(request, form, formset, change)


def change_reason(form, change: bool) -> str:
    """What the audit shows for an admin save, e.g. "Admin: changed severity, parameters"."""
    if not change:
        return "Admin: created"
    fields = ", ".join(form.changed_data) or "nothing"
    return f"Admin: changed {fields}"


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows that change only through services or the API: shown, never edited here."""

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> list[str]:
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class TeamRoleInline(admin.options.InlineModelAdmin):
    """An inline editable by members of the parent object's team with at least `role`."""

    role = Role.CONTRIBUTOR

    def parent_team_id(self, parent: Model) -> int:
        return parent.team_id

    def _may_edit(self, request: HttpRequest, parent: Model | None) -> bool:
        if parent is None:  # the add form; the parent admin has already checked
            return True
        team_ids = team_ids_with_role(request.user, self.role)
        return team_ids is None or self.parent_team_id(parent) in team_ids

    def has_view_permission(self, request, obj=None):
        return self._may_edit(request, obj)

    def has_add_permission(self, request, obj=None):
        return self._may_edit(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._may_edit(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._may_edit(request, obj)
