"""Form fields that refuse what the API's parser refuses (escalation_project/text_checks.py).

A JSON textarea in the admin (rule parameters, a rule test's messages, an
endpoint's event types) was decoded by Django's forms.JSONField with plain
json.loads: 3,000 nested brackets were a RecursionError 500, and "\\udfff" was
saved, after which the row's pages were 500s for good.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.forms.fields import InvalidJSONInput

from escalation_project.text_checks import BadJSON, loads_checked


class CheckedJSONField(forms.JSONField):
    """forms.JSONField whose text is checked (depth, numbers, NUL, lone surrogates) before decoding.

    ProjectConfig.ready makes it the admin's form field for every models.JSONField.
    """

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str) and not self.disabled and value not in self.empty_values:
            try:
                loads_checked(value)
            except BadJSON as exc:
                raise ValidationError(str(exc), code="invalid") from None
        return super().to_python(value)

    def bound_data(self, data: Any, initial: Any) -> Any:
        # The form with its errors shows the text again: decoding it must not fail either.
        if isinstance(data, str) and not self.disabled:
            try:
                loads_checked(data)
            except BadJSON:
                return InvalidJSONInput(data)
        return super().bound_data(data, initial)
