import json

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from simple_history.admin import SimpleHistoryAdmin

from agents import services
from agents.engine.intent import ModelUnavailable
from agents.errors import LabelInUse
from agents.forms import AgentForm, EscalationRuleForm, RuleTestCaseForm, kind_fieldsets
from agents.keys import agent_key_create, agent_key_revoke
from agents.learning import suggestions_for
from agents.models import (
    Agent,
    AgentApiKey,
    Conversation,
    EscalationRule,
    Label,
    Message,
    RuleTestCase,
    SuggestionTarget,
)
from agents.rule_bench import PREVIEW_DAYS, parse_script, preview, run_rule_tests, what_if
from agents.services import evaluate_conversation
from escalation_project.text_checks import loads_checked
from supervisors.admin_scope import ReadOnlyAdmin, TeamRoleInline, TeamScopedAdmin, change_reason
from supervisors.insights import rule_precision
from supervisors.models import Role
from supervisors.selectors import team_ids_with_role

# The rule's fields after its parameters: what the escalation it opens carries.
_RULE_OUTCOME = ["exception_phrases", ("severity", "urgency"), ("topic", "area"), "reason_template"]


def _editable_team_ids(request, role: Role = Role.CONTRIBUTOR) -> list[int] | None:
    """For the label dropdowns before the agent is known: the teams the user may edit (None: all)."""
    team_ids = team_ids_with_role(request.user, role)
    return None if team_ids is None else sorted(team_ids)


class EscalationRuleInline(TeamRoleInline, admin.StackedInline):
    """On an agent's page: its team's contributors and owners edit its rules."""

    model = EscalationRule
    form = EscalationRuleForm
    extra = 0
    show_change_link = True  # the rule's own page has the preview and the what-if bench
    fieldsets = [
        (None, {"fields": [("name", "enabled", "order"), ("kind", "applies_to")]}),
        *kind_fieldsets(),
        ("When it fires", {"fields": _RULE_OUTCOME}),
    ]

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        formset.form.team_ids = [obj.team_id] if obj is not None else _editable_team_ids(request)
        return formset


class RuleTestCaseInline(TeamRoleInline, admin.StackedInline):
    """On an agent's page: conversation scripts its rules should (or should not) escalate."""

    model = RuleTestCase
    form = RuleTestCaseForm
    extra = 0
    fields = [("name", "should_escalate", "expected_rule"), "messages"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "expected_rule":
            agent_id = request.resolver_match.kwargs.get("object_id")
            kwargs["queryset"] = EscalationRule.objects.filter(agent_id=agent_id)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Agent)
class AgentAdmin(TeamScopedAdmin, SimpleHistoryAdmin):
    form = AgentForm
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
                    ("default_assignee", "assignment"),
                    "timeout_policy",
                    "timeout_guidance",
                ]
            },
        ),
    ]
    inlines = [EscalationRuleInline, RuleTestCaseInline]
    # The default assignee is one of the team's members: other teams' people are not listed.
    team_scoped_choices = {**TeamScopedAdmin.team_scoped_choices, "default_assignee": "teams"}

    class Media:
        js = ["js/rule_form.js"]  # the rules inline: each rule shows its kind's fields only

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        form.team_ids = [obj.team_id] if obj is not None else _editable_team_ids(request)
        return form

    # Saves go through agents.services, like the API's: the matcher's version bump and the
    # history's author and reason live there, not in hooks here.

    def save_model(self, request, obj, form, change):
        fields = list(form.changed_data) if change else None
        services.agent_save(agent=obj, user=request.user, reason=change_reason(form, change), fields=fields)

    def save_formset(self, request, form, formset, change):
        """The rules and rule tests inlines, row by row through the services (not formset.save())."""
        saved = formset.save(commit=False)  # deletes nothing yet: those are in deleted_objects
        for row in formset.deleted_objects:
            if isinstance(row, EscalationRule):
                services.rule_delete(rule=row, user=request.user, reason="Admin: deleted")
            else:
                services.rule_test_delete(case=row)
        for row in saved:
            if isinstance(row, EscalationRule):
                inline_form = next(f for f in formset.forms if f.instance is row)
                reason = change_reason(inline_form, not row._state.adding)
                services.rule_save(rule=row, user=request.user, reason=reason)
            else:
                services.rule_test_save(case=row)
        formset.save_m2m()

    def get_urls(self):
        bench = path(
            "<int:object_id>/rule-bench/",
            self.admin_site.admin_view(self.rule_bench_view),
            name="agents_agent_rule_bench",
        )
        return [bench, *super().get_urls()]

    def rule_bench_view(self, request, object_id: int):
        """The agent's rule tests, run now, and a box to try a pasted conversation (writes nothing)."""
        agent = self.get_object(request, object_id)
        if agent is None or not self.has_change_permission(request, agent):
            raise Http404
        script, evaluation, error = request.POST.get("script", ""), None, ""
        if request.method == "POST":
            try:
                evaluation = evaluate_conversation(agent=agent, messages=parse_script(script))
            except ValidationError as invalid:
                error = " ".join(invalid.messages)
            except ModelUnavailable as unavailable:
                error = unavailable.message
        try:
            results = run_rule_tests(agent)
        except ModelUnavailable as unavailable:  # the page still opens, and says why nothing ran
            results, error = [], unavailable.message
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": agent,
            "title": f"Rule bench: {agent.name}",
            "results": results,
            "script": script,
            "evaluation": evaluation,
            "error": error,
        }
        return TemplateResponse(request, "admin/agents/agent/rule_bench.html", context)

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
    form = EscalationRuleForm
    fieldsets = [
        (None, {"fields": ["agent", ("name", "enabled", "order"), ("kind", "applies_to")]}),
        *kind_fieldsets(),
        ("When it fires", {"fields": _RULE_OUTCOME}),
        (
            "Preview",
            {
                "classes": ["rule-preview"],
                "description": "Nothing is saved: “Preview” checks this version of the form.",
                "fields": ["preview_conversation"],
            },
        ),
    ]

    class Media:
        js = ["js/rule_form.js"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        form.team_ids = [obj.agent.team_id] if obj is not None else _editable_team_ids(request)
        return form

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if request.method == "POST" and "_preview" in request.POST:
            return self.preview_view(request, object_id, form_url, extra_context)
        return super().changeform_view(request, object_id, form_url, extra_context)

    def preview_view(self, request, object_id, form_url, extra_context):
        """The form again, checked as a save would check it, with what this version would fire
        on; nothing is written (the admin's save path is not taken)."""
        obj = self.get_object(request, object_id) if object_id else None
        if object_id and (obj is None or not self.has_change_permission(request, obj)):
            raise Http404
        if obj is None and not self.has_add_permission(request):
            raise PermissionDenied
        form = self.get_form(request, obj, change=obj is not None)(request.POST, instance=obj)
        result, error = None, ""
        if form.is_valid():
            rule = form.instance
            try:
                result = preview(rule, messages=form.cleaned_data.get("preview_conversation") or [])
            except ModelUnavailable as unavailable:
                error = unavailable.message
        admin_form = helpers.AdminForm(
            form,
            list(self.get_fieldsets(request, obj)),
            {},
            self.get_readonly_fields(request, obj),
            model_admin=self,
        )
        context = {
            **self.admin_site.each_context(request),
            "title": f"Preview: {obj.name}" if obj else "Preview a new rule",
            "subtitle": str(obj) if obj else None,
            "adminform": admin_form,
            "object_id": object_id,
            "original": obj,
            "is_popup": False,
            "to_field": None,
            "media": self.media + admin_form.media,
            "inline_admin_formsets": [],
            "errors": helpers.AdminErrorList(form, []),
            "preserved_filters": self.get_preserved_filters(request),
            "preview": result,
            "preview_error": error,
            "preview_days": PREVIEW_DAYS,
            **(extra_context or {}),
        }
        return self.render_change_form(
            request, context, add=obj is None, change=obj is not None, obj=obj, form_url=form_url
        )

    def get_urls(self):
        what_if = path(
            "<int:object_id>/what-if/",
            self.admin_site.admin_view(self.what_if_view),
            name="agents_escalationrule_what_if",
        )
        return [what_if, *super().get_urls()]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # How often the people who answered its escalations said a human was needed.
        if str(object_id).isdigit():  # anything else is the admin's own "does not exist" redirect
            extra_context = {**(extra_context or {}), "precision": rule_precision(int(object_id))}
            rule = EscalationRule.objects.filter(pk=object_id).select_related("agent").first()
            if rule is not None and request.method == "GET":
                # What the supervisors' verdicts teach it; the buttons post to the console's
                # rule endpoints (agents.learning checks the role again) and come back here.
                extra_context["learning"] = suggestions_for(rule)
                extra_context["exception_target"] = SuggestionTarget.EXCEPTION_PHRASE.value
        return super().change_view(request, object_id, form_url, extra_context)

    def what_if_view(self, request, object_id: int):
        """How many recent conversations this rule, or an edited version of it, would have escalated."""
        rule = self.get_object(request, object_id)
        if rule is None or not self.has_change_permission(request, rule):
            raise Http404
        days = _bounded_int(request.GET.get("days"), default=30, low=1, high=365)
        parameters = request.POST.get("parameters", json.dumps(rule.parameters))
        exceptions = request.POST.get("exception_phrases", json.dumps(rule.exception_phrases))
        error = ""
        if request.method == "POST":
            try:
                # What the API parser refuses (3,000 nested brackets were a RecursionError 500).
                rule.parameters = loads_checked(parameters)
                rule.exception_phrases = loads_checked(exceptions)
                rule.clean()  # the same checks as saving; nothing is saved
            except (ValueError, ValidationError) as invalid:
                error = " ".join(getattr(invalid, "messages", [str(invalid)]))
        result = None
        if not error:
            try:
                result = what_if(rule, days=days)
            except ModelUnavailable as unavailable:
                error = unavailable.message
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": rule,
            "title": f"What if: {rule.name}",
            "days": days,
            "parameters": parameters,
            "exception_phrases": exceptions,
            "error": error,
            "result": result,
        }
        return TemplateResponse(request, "admin/agents/escalationrule/what_if.html", context)

    # Through agents.services, like the API: the matcher's version bump lives there.

    def save_model(self, request, obj, form, change):
        services.rule_save(rule=obj, user=request.user, reason=change_reason(form, change))

    def delete_model(self, request, obj):
        services.rule_delete(rule=obj, user=request.user, reason="Admin: deleted")

    def delete_queryset(self, request, queryset):
        for rule in queryset:
            self.delete_model(request, rule)


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


@admin.register(AgentApiKey)
class AgentApiKeyAdmin(TeamScopedAdmin):
    """Keys are made here (the key is shown once, in a message) and revoked, never edited."""

    team_lookup = "agent__team"
    list_display = ["name", "agent", "prefix", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["agent__team", "agent"]
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def get_fields(self, request, obj=None):
        return ["agent", "name"] if obj is None else ["agent", "name", *self.readonly_fields]

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is None else ["agent", *self.readonly_fields]

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        # Through the service so the key is generated and hashed in one place.
        api_key, key = agent_key_create(agent=obj.agent, name=obj.name)
        obj.pk = api_key.pk
        obj.prefix, obj.key_hash, obj.created_at = api_key.prefix, api_key.key_hash, api_key.created_at
        messages.warning(request, f"The key for {api_key.agent}, shown this once only: {key}")

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request, queryset):
        for api_key in queryset:
            agent_key_revoke(api_key=api_key)
        messages.success(request, f"Revoked {queryset.count()} key(s).")


@admin.register(Label)
class LabelAdmin(TeamScopedAdmin):
    """A team's topics and areas: agents, rules and API calls may only use these once defined."""

    list_display = ["name", "kind", "team", "description"]
    list_filter = ["kind", "team"]
    search_fields = ["name", "description"]

    def save_model(self, request, obj, form, change):
        services.label_save(label=obj)

    def delete_model(self, request, obj):
        try:
            services.label_delete(label=obj)
        except LabelInUse as in_use:  # as the API refuses it (409): say why, keep the label
            messages.error(request, in_use.message)

    def delete_queryset(self, request, queryset):
        for label in queryset:
            self.delete_model(request, label)

    def response_delete(self, request, obj_display, obj_id):
        if Label.objects.filter(pk=obj_id).exists():  # refused above: back to it, with no "deleted"
            return HttpResponseRedirect(reverse("admin:agents_label_change", args=[obj_id]))
        return super().response_delete(request, obj_display, obj_id)


def _bounded_int(raw: str | None, *, default: int, low: int, high: int) -> int:
    try:
        return min(max(int(raw), low), high) if raw else default
    except ValueError:
        return default
