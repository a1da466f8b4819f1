from django.contrib import admin

from supervisors.admin_scope import TeamRoleInline, TeamScopedAdmin
from supervisors.models import Membership, Role, Team


class MembershipInline(TeamRoleInline, admin.TabularInline):
    """On a team's page: its owners manage its members."""

    model = Membership
    extra = 1
    role = Role.OWNER

    def parent_team_id(self, team: Team) -> int:
        return team.pk


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
