from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db.models import QuerySet
from django.forms import BaseFormSet
from django.http import HttpRequest
from redis.exceptions import RedisError

from escalations.admin import SavesTeamSettings
from escalations.models import LadderLevel, TeamPolicy
from supervisors.access import access_changed
from supervisors.admin_scope import TeamRoleInline, TeamScopedAdmin, change_reason
from supervisors.models import Membership, Role, Team, UserToken
from supervisors.selectors import team_ids_with_role, uncovered_team_ids
from supervisors.tokens import user_token_create, user_token_revoke


class MembershipInline(TeamRoleInline, admin.TabularInline):
    """On a team's page: its owners manage its members."""

    model = Membership
    extra = 1
    role = Role.OWNER

    def parent_team_id(self, team: Team) -> int:
        return team.pk


def people_of_owned_teams(request: HttpRequest) -> QuerySet:
    """Whom an owner may name: the people of the teams they own, so no user list leaks across teams."""
    team_ids = team_ids_with_role(request.user, Role.OWNER)
    users = get_user_model().objects.filter(is_active=True).order_by("username")
    return users if team_ids is None else users.filter(memberships__team_id__in=team_ids).distinct()


class TeamPolicyInline(TeamRoleInline, admin.StackedInline):
    """On a team's page: how its owners want new escalations assigned."""

    model = TeamPolicy
    role = Role.OWNER
    can_delete = False
    max_num = 1
    fieldsets = [
        ("Assignment of new escalations", {"fields": ["assignment", "assignee", "load_limit"]}),
        (
            "Emails",
            {
                "fields": [
                    "email_new_critical",
                    "email_assigned",
                    "email_reminders",
                    "email_breaches",
                    "email_escalated",
                ]
            },
        ),
    ]

    def parent_team_id(self, team: Team) -> int:
        return team.pk

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "assignee":
            kwargs["queryset"] = people_of_owned_teams(request)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class TellsSocketsOnDelete(admin.ModelAdmin):
    """Deleting these rows takes access away from people: their open console sockets re-check."""

    users_lookup = "user"  # from a row to the users whose access it gives

    def delete_model(self, request, obj):
        users = self._users(type(obj).objects.filter(pk=obj.pk))
        super().delete_model(request, obj)
        access_changed(user_ids=users)

    def delete_queryset(self, request, queryset):
        users = self._users(queryset)
        super().delete_queryset(request, queryset)
        access_changed(user_ids=users)

    def _users(self, queryset: QuerySet) -> list[int | None]:
        return list(queryset.values_list(self.users_lookup, flat=True))


class LadderLevelInline(TeamRoleInline, admin.TabularInline):
    """On a team's page: its owners set the escalation ladder."""

    model = LadderLevel
    fk_name = "team"
    extra = 0
    role = Role.OWNER
    fields = [
        "number",
        "after_minutes",
        "min_urgency",
        "notify_supervisors",
        "notify_owners",
        "notify_users",
        "notify_team",
    ]

    def parent_team_id(self, team: Team) -> int:
        return team.pk

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        field = formset.form.base_fields.get("notify_users")
        if field is not None:
            # The team's own people only, superusers' choices too: any user would list everyone's
            # name to a team owner, and send a team's ladder news to people outside it.
            # A new team has no members yet.
            users = get_user_model().objects.filter(is_active=True).order_by("username")
            field.queryset = users.filter(memberships__team=obj) if obj is not None else users.none()
        return formset


@admin.register(Team)
class TeamAdmin(SavesTeamSettings, TellsSocketsOnDelete, TeamScopedAdmin):
    team_lookup = "pk"
    users_lookup = "memberships__user"
    view_role = Role.OWNER
    edit_role = Role.OWNER
    list_display = ["name", "slug", "member_count", "covered"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline, TeamPolicyInline, LadderLevelInline]

    def team_id_of(self, obj: Team) -> int:
        return obj.pk

    # Its policy and ladder inlines are saved through escalations.team_settings (SavesTeamSettings).

    def save_model(self, request, obj, form, change):
        if not change:
            return super().save_model(request, obj, form, change)
        obj._change_reason = change_reason(form, change)
        # What the form changed only: a whole save would write back settings_version as read,
        # and could undo a concurrent settings write's bump (escalations.team_config).
        obj.save(update_fields=form.changed_data)

    def save_formset(self, request, form, formset, change):
        super().save_formset(request, form, formset, change)
        if formset.model is Membership:
            access_changed(user_ids=memberships_user_ids(formset))

    # Creating and deleting teams is for superusers; owners manage their own.
    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser

    @admin.display(description="Members")
    def member_count(self, team: Team) -> int:
        return team.memberships.count()

    @admin.display(description="Covered", boolean=True)
    def covered(self, team: Team) -> bool | None:
        """Whether someone on duty has a console open, if its agents can escalate (unknown without Redis)."""
        try:
            return not uncovered_team_ids([team.pk])
        except RedisError:
            return None


def memberships_user_ids(formset: BaseFormSet) -> set[int | None]:
    """Whose memberships a saved membership formset added, changed or removed: the user a changed
    row had before and the one it has now."""
    affected: set[int | None] = set()
    for form in formset.forms:
        if form.has_changed() or form in formset.deleted_forms:
            affected.add(form.initial.get("user"))
            affected.add(form.instance.user_id)
    return affected


@admin.register(Membership)
class MembershipAdmin(TellsSocketsOnDelete, TeamScopedAdmin):
    view_role = Role.OWNER
    edit_role = Role.OWNER
    list_display = ["user", "team", "role", "on_duty"]
    list_filter = ["role", "on_duty", "team"]
    search_fields = ["user__username", "team__name"]

    # Who is in a team decides whose console sockets get its events (supervisors/access.py).

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        access_changed(user_ids=[form.initial.get("user"), obj.user_id])


admin.site.unregister(get_user_model())


@admin.register(get_user_model())
class ConsoleUserAdmin(TellsSocketsOnDelete, UserAdmin):
    """Django's, telling the user's open console sockets when their access may have changed."""

    users_lookup = "pk"
    # Whether a session still signs the user in, and whether a socket watches every team.
    access_fields = {"is_active", "is_superuser"}

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and self.access_fields & set(form.changed_data):
            access_changed(user_ids=[obj.pk])

    def user_change_password(self, request, id, form_url=""):
        response = super().user_change_password(request, id, form_url)
        # A redirect answers a POST that changed it: the user's other sessions no longer sign in.
        if request.method == "POST" and response.status_code == 302:
            access_changed(user_ids=[int(unquote(id))])
        return response


@admin.register(UserToken)
class UserTokenAdmin(admin.ModelAdmin):
    """Staff make and revoke their own API tokens here (superusers: anyone's); shown once, never edited."""

    list_display = ["user", "name", "prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request).select_related("user")
        return queryset if request.user.is_superuser else queryset.filter(user=request.user)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request: HttpRequest, obj: UserToken | None = None) -> bool:
        return self.has_module_permission(request) and (
            obj is None or request.user.is_superuser or obj.user_id == request.user.pk
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.has_module_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: UserToken | None = None) -> bool:
        return self.has_view_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: UserToken | None = None) -> bool:
        return False  # revoke instead: the row stays as a record of the token

    def get_fields(self, request, obj=None):
        return ["user", "name"] if obj is None else ["user", "name", *self.readonly_fields]

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is None else ["user", "name", *self.readonly_fields]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user" and not request.user.is_superuser:
            kwargs["queryset"] = get_user_model().objects.filter(pk=request.user.pk)
            kwargs["initial"] = request.user.pk
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        if change:
            return  # nothing is editable
        token, key = user_token_create(user=obj.user, name=obj.name)
        obj.pk = token.pk
        messages.warning(request, f"The token for {token.user}, shown this once only: {key}")

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset):
        for token in queryset:
            user_token_revoke(token=token)
        messages.success(request, f"Revoked {queryset.count()} token(s).")
