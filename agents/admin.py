from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from agents.models import Agent, Conversation, EscalationRule, Message
from supervisors.admin_scope import ReadOnlyAdmin, TeamRoleInline, TeamScopedAdmin
from supervisors.models import Role


class EscalationRuleInline(TeamRoleInline, admin.StackedInline):
    """On an agent's page: its team's contributors and owners edit its rules."""

    model = EscalationRule
    extra = 0
    fields = [
        ("name", "enabled", "order"),
        ("kind", "applies_to"),
        "parameters",
        "exception_phrases",
        ("severity", "urgency"),
        ("topic", "area"),
        "reason_template",
    ]


@admin.register(Agent)
class AgentAdmin(TeamScopedAdmin, SimpleHistoryAdmin):
    list_display = ["name", "slug", "team", "escalation_enabled", "rule_count", "updated_at"]
    list_filter = ["team", "escalation_enabled"]
    search_fields = ["name", "slug", "description"]
    prepopulated_fields = {"slug": ["name"]}
    fieldsets = [
        (None, {"fields": ["team", "name", "slug", "description", "escalation_enabled"]}),
        (
            "Defaults for the escalations it opens",
            {
                "fields": [
                    ("default_severity", "default_urgency"),
                    ("default_topic", "default_area"),
                    "default_assignee",
                ]
            },
        ),
    ]
    inlines = [EscalationRuleInline]

    @admin.display(description="Rules")
    def rule_count(self, agent: Agent) -> int:
        return agent.rules.count()


@admin.register(EscalationRule)
class EscalationRuleAdmin(TeamScopedAdmin, SimpleHistoryAdmin):
    team_lookup = "agent__team"
    list_display = ["name", "agent", "kind", "applies_to", "severity", "enabled", "order"]
    list_filter = ["kind", "enabled", "severity", "agent__team"]
    search_fields = ["name", "agent__name", "reason_template"]
    list_select_related = ["agent"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "agent":
            kwargs["queryset"] = AgentAdmin(Agent, self.admin_site).get_queryset(request)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    fields = ["created_at", "role", "content", "metadata"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyAdmin, TeamScopedAdmin):
    """Read-only: conversations arrive over the API."""

    team_lookup = "agent__team"
    view_role = Role.SUPERVISOR
    list_display = ["external_id", "agent", "channel", "status", "updated_at"]
    list_filter = ["status", "channel", "agent__team"]
    search_fields = ["external_id", "subject", "agent__name"]
    list_select_related = ["agent"]
    inlines = [MessageInline]
