from django.contrib import admin

from supervisors.admin_scope import TeamScopedAdmin
from supervisors.models import Membership, Role, Team
from supervisors.selectors import has_team_role


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1

    # obj is the Team being edited: its owners manage its members.
    def _is_owner(self, request, obj) -> bool:
        return obj is None or has_team_role(request.user, obj, Role.OWNER)

    def has_view_permission(self, request, obj=None):
        return self._is_owner(request, obj)

    def has_add_permission(self, request, obj=None):
        return self._is_owner(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._is_owner(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._is_owner(request, obj)


@admin.register(Team)
class TeamAdmin(TeamScopedAdmin):
    team_lookup = "pk"
    view_role = Role.OWNER
    edit_role = Role.OWNER
    list_display = ["name", "slug", "member_count"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]

    def team_id_of(self, obj: Team) -> int:
        return obj.pk

    # Creating and deleting teams is for superusers; owners manage their own.
    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser

    @admin.display(description="Members")
    def member_count(self, team: Team) -> int:
        return team.memberships.count()


@admin.register(Membership)
class MembershipAdmin(TeamScopedAdmin):
    view_role = Role.OWNER
    edit_role = Role.OWNER
    list_display = ["user", "team", "role"]
    list_filter = ["role", "team"]
    search_fields = ["user__username", "team__name"]
