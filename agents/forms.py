"""The admin's rule and rule-test forms: each rule kind's parameters as form fields, not JSON.

The fields are made from agents.rule_parameters.PARAMETERS (the table the validation and the
OpenAPI schema read), one set per kind, named "<kind>__<key>". The form reads only the chosen
kind's set (static/js/rule_form.js shows only that set; without JavaScript all are shown, each
under its kind's heading). The parameters it builds are checked by the same validation as the
API's, and each message is put next to the field it is about.

Topic and area are dropdowns of the team's labels, as only those are accepted on save.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import format_html

from agents.engine.money import CODES
from agents.models import Agent, EscalationRule, Label, LabelKind, RuleKind, RuleTestCase
from agents.rule_bench import parse_script
from agents.rule_parameters import PARAMETERS, REQUIRED, parameter_errors
from escalation_project.text_checks import bad_text_in

# What each kind does, shown above its fields.
KIND_HELP: dict[str, str] = {
    RuleKind.PHRASES: "Fires when a message contains one of the phrases (word by word: inflections, "
    "a typo in long words and a few words in between still match).",
    RuleKind.REGEX: "Fires when the pattern (RE2: no lookarounds or backreferences) matches a message.",
    RuleKind.AMOUNT: "Fires when a message with one of the phrases asks for an amount over the limit, "
    "in the limit's currency (there are no exchange rates: other currencies are not compared).",
    RuleKind.ASKS_FOR_HUMAN: "Fires when the customer asks for a person (“let me talk to a human”). "
    "Built-in phrases cover the usual ways; add your own below.",
    RuleKind.SENTIMENT: "Fires when the latest messages are angry or frustrated enough.",
    RuleKind.LOOP: "Fires when the customer says the same thing again and again.",
    RuleKind.INTENT: "Fires on messages that mean the same as the should examples and not the "
    "should-not ones (a small local model compares them; no data leaves the server).",
    RuleKind.POLICY: "A language model reads the latest messages and your policy, and decides. "
    "Needs a judge configured on the server (POLICY_JUDGE_BASE_URL).",
}

# Lists shown one item per line: which ones are whole messages rather than phrases.
_EXAMPLE_LISTS = {"should", "should_not", "exception_examples"}
# Free text that runs to a paragraph.
_LONG_TEXT = {"policy", "description"}


class LinesField(forms.CharField):
    """A list of strings, one per line in a textarea; blank lines are skipped."""

    def __init__(self, *, rows: int = 4, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": rows, "cols": 80}))
        super().__init__(strip=False, **kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return "\n".join(str(item) for item in value)
        return value

    def to_python(self, value: Any) -> list[str]:
        if isinstance(value, list):
            return value
        text = super().to_python(value) or ""
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        problem = bad_text_in(lines)
        if problem:
            raise ValidationError(f"A line {problem.args[0]}.")
        return lines

    def has_changed(self, initial: Any, data: Any) -> bool:
        return self.to_python(initial or []) != self.to_python(data)


class ScriptField(forms.CharField):
    """A conversation as lines "user: …" / "agent: …" (agents.rule_bench.parse_script)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 5, "cols": 80}))
        super().__init__(strip=False, **kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list):  # the stored messages
            return "\n".join(f"{m.get('role')}: {m.get('content')}" for m in value if isinstance(m, dict))
        return value

    def to_python(self, value: Any) -> Any:
        if isinstance(value, list):
            return value
        text = super().to_python(value)
        if not text:
            return []
        problem = bad_text_in(text)
        if problem:
            raise ValidationError(f"The conversation {problem.args[0]}.")
        return parse_script(text)

    def has_changed(self, initial: Any, data: Any) -> bool:
        try:
            return self.to_python(initial or []) != self.to_python(data)
        except ValidationError:
            return True


def parameter_field_name(kind: str, key: str) -> str:
    return f"{kind}__{key}"


def _parameter_field(kind: str, key: str, schema: dict[str, Any]) -> forms.Field:
    """The form field for one parameter of a kind, from its JSON Schema."""
    help_text = schema.get("description", "")
    if key in REQUIRED.get(kind, ()):
        help_text = f"Required. {help_text}"
    default = schema.get("default")
    kind_of = schema.get("type")
    label = key.replace("_", " ").capitalize()
    if kind_of == "array":
        if key in _EXAMPLE_LISTS:
            help_text = f"{help_text} One message per line."
        else:
            help_text = f"{help_text} One per line."
        rows = 6 if key in _EXAMPLE_LISTS else 4
        return LinesField(label=label, help_text=help_text.strip(), rows=rows)
    if kind_of == "boolean":
        return forms.BooleanField(label=label, required=False, initial=default, help_text=help_text)
    if kind_of in ("integer", "number"):
        low, high = schema.get("minimum"), schema.get("maximum")
        bounds = f"{low} to {high}" if high is not None else f"{low} or more"
        if default is not None:
            help_text = f"{help_text} Empty: the default, {default} ({bounds})."
        else:
            help_text = f"{help_text} ({bounds})."
        attrs = {"placeholder": f"default {default}" if default is not None else ""}
        if kind_of == "integer":
            return forms.IntegerField(
                label=label,
                required=False,
                help_text=help_text.strip(),
                widget=forms.NumberInput(attrs=attrs),
            )
        attrs["step"] = "any"
        return forms.FloatField(
            label=label, required=False, help_text=help_text.strip(), widget=forms.NumberInput(attrs=attrs)
        )
    if "enum" in schema:  # the currency: codes in upper case (the lower-case ones are read the same)
        choices = [("", "— pick the limit's currency —"), *((code, code) for code in CODES)]
        return forms.ChoiceField(label=label, required=False, choices=choices, help_text=help_text)
    widget = (
        forms.Textarea(attrs={"rows": 4, "cols": 80})
        if key in _LONG_TEXT
        else forms.TextInput(attrs={"size": 60})
    )
    # "Required" is the validation's to say (next to the field), for the chosen kind only.
    return forms.CharField(label=label, required=False, help_text=help_text, widget=widget)


def parameter_fields() -> dict[str, forms.Field]:
    return {
        parameter_field_name(kind, key): _parameter_field(kind, key, schema)
        for kind, keys in PARAMETERS.items()
        for key, schema in keys.items()
    }


def kind_fieldsets() -> list[tuple[str, dict[str, Any]]]:
    """One fieldset per kind (class "rule-kind rule-kind-<kind>", for the JavaScript that shows one)."""
    return [
        (
            f"{label}: parameters",
            {
                "classes": ["rule-kind", f"rule-kind-{kind}"],
                "description": KIND_HELP.get(kind, ""),
                "fields": [parameter_field_name(kind, key) for key in PARAMETERS.get(kind, {})],
            },
        )
        for kind, label in RuleKind.choices
        if PARAMETERS.get(kind)
    ]


def _label_choices(team_ids: list[int] | None, kind: str, current: str) -> list[Any]:
    """The labels of these teams (None: every team), grouped by team when there are several."""
    labels = Label.objects.filter(kind=kind).select_related("team").order_by("team__name", "name")
    if team_ids is not None:
        labels = labels.filter(team_id__in=team_ids)
    by_team: dict[str, list[tuple[str, str]]] = {}
    for label in labels:
        by_team.setdefault(label.team.name, []).append((label.name, label.name))
    choices: list[Any] = [("", "—")]
    if len(by_team) == 1:
        choices += next(iter(by_team.values()))
    else:
        choices += [(team, names) for team, names in by_team.items()]
    known = {name for names in by_team.values() for name, _ in names}
    if current and current not in known:
        # Kept, so opening and saving an old rule does not silently clear it (the save says why not).
        choices.append((current, f"{current} (not a label of the team)"))
    return choices


def label_dropdown(field_name: str, kind: str, team_ids: list[int] | None, current: str) -> forms.ChoiceField:
    add_url = reverse("admin:agents_label_add") + f"?kind={kind}"
    if team_ids and len(team_ids) == 1:
        add_url += f"&team={team_ids[0]}"
    help_text = format_html(
        'One of the team’s {}s. <a href="{}" target="_blank" class="add-label">Add a {}…</a>',
        kind,
        add_url,
        kind,
    )
    return forms.ChoiceField(
        label=field_name.replace("default_", "default ").capitalize(),
        required=False,
        choices=_label_choices(team_ids, kind, current),
        help_text=help_text,
    )


class LabelDropdowns:
    """Topic and area (or default_topic and default_area) as dropdowns of the team's labels.

    Set `team_ids` before __init__ (the admin's get_form does): the agent's team when it is known,
    else the teams the user may edit.
    """

    label_fields: dict[str, str] = {}
    team_ids: list[int] | None = None

    def _make_label_dropdowns(self) -> None:
        for field_name, kind in self.label_fields.items():
            current = self.initial.get(field_name) or getattr(self.instance, field_name, "") or ""
            self.fields[field_name] = label_dropdown(field_name, kind, self.team_ids, current)


# Declared fields (not added in __init__), so the admin's fieldsets may name them.
RuleParameterFields = type("RuleParameterFields", (forms.Form,), parameter_fields())


class EscalationRuleForm(LabelDropdowns, RuleParameterFields, forms.ModelForm):
    label_fields = {"topic": LabelKind.TOPIC, "area": LabelKind.AREA}

    exception_phrases = LinesField(
        label="Exception phrases",
        help_text="Phrases that stop this rule from firing, one per line, e.g. “refund policy”.",
    )
    preview_conversation = ScriptField(
        label="Try it on",
        required=False,
        help_text="A conversation, one message a line: “user: …” or “agent: …”. "
        "Preview shows whether this version of the rule (not saved) fires on it, and on the "
        "agent's conversations of the last 30 days.",
    )

    class Meta:
        model = EscalationRule
        fields = [
            "agent",
            "name",
            "enabled",
            "order",
            "kind",
            "applies_to",
            "exception_phrases",
            "severity",
            "urgency",
            "topic",
            "area",
            "reason_template",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.agent_id:
            self.team_ids = [self.instance.agent.team_id]
        self._make_label_dropdowns()
        self.fields["kind"].widget.attrs["class"] = "rule-kind-switch"
        parameters = self.instance.parameters if isinstance(self.instance.parameters, dict) else {}
        if self.instance.kind and not self.is_bound:
            for key, value in parameters.items():
                name = parameter_field_name(self.instance.kind, key)
                if name in self.fields:
                    # "usd" is read as "USD" (rule_parameters); the dropdown lists the upper case.
                    self.initial[name] = (
                        value.upper() if key == "currency" and isinstance(value, str) else value
                    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        kind = cleaned.get("kind")
        if kind in PARAMETERS:
            parameters = self._parameters(kind, cleaned)
            for key, message in parameter_errors(kind, parameters).items():
                name = parameter_field_name(kind, key)
                self.add_error(name if name in self.fields else None, message)
            self.instance.parameters = parameters
        return cleaned

    def _parameters(self, kind: str, cleaned: dict[str, Any]) -> dict[str, Any]:
        """The chosen kind's fields as the parameters object; empty ones and defaults left out."""
        before = self.instance.parameters if isinstance(self.instance.parameters, dict) else {}
        parameters: dict[str, Any] = {}
        for key, schema in PARAMETERS[kind].items():
            value = cleaned.get(parameter_field_name(kind, key))
            if value is None or value == "" or value == []:
                if key in REQUIRED.get(kind, ()) and schema.get("type") == "array":
                    parameters[key] = []  # so the validation says it needs one
                continue
            if schema.get("type") == "boolean" and value == schema.get("default") and key not in before:
                continue
            if isinstance(value, float) and value.is_integer():
                value = int(value)  # 100, not 100.0, as an API client would write it
            parameters[key] = value
        return parameters

    @property
    def changed_data(self) -> list[str]:
        """As the audit names them: "parameters", not each kind's field; the preview box not at all."""
        names = [name for name in super().changed_data if name != "preview_conversation"]
        kind = self.cleaned_data.get("kind") if hasattr(self, "cleaned_data") else self.instance.kind
        own = {parameter_field_name(kind, key) for key in PARAMETERS.get(kind, {})}
        changed = [name for name in names if "__" not in name]
        if any(name in own for name in names) or "kind" in changed:
            changed.append("parameters")
        return changed

    def _update_errors(self, errors: ValidationError) -> None:
        # The model's clean() repeats the parameters' check as one message for the whole
        # object; clean() above already put it next to its field.
        if hasattr(errors, "error_dict") and "parameters" in errors.error_dict:
            del errors.error_dict["parameters"]
            if not errors.error_dict:
                return
        super()._update_errors(errors)


class AgentForm(LabelDropdowns, forms.ModelForm):
    label_fields = {"default_topic": LabelKind.TOPIC, "default_area": LabelKind.AREA}

    class Meta:
        model = Agent
        fields = [
            "team",
            "name",
            "slug",
            "description",
            "escalation_enabled",
            "default_severity",
            "default_urgency",
            "default_topic",
            "default_area",
            "default_assignee",
            "assignment",
            "timeout_policy",
            "timeout_guidance",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.team_id:
            self.team_ids = [self.instance.team_id]
        self._make_label_dropdowns()


class RuleTestCaseForm(forms.ModelForm):
    messages = ScriptField(
        label="Conversation",
        help_text="Oldest first, one message a line: “user: I want a refund of $150” or “agent: …”. "
        "A line without a role continues the message before it. It is replayed message by "
        "message, as the API would receive it.",
    )

    class Meta:
        model = RuleTestCase
        fields = ["name", "should_escalate", "expected_rule", "messages"]
