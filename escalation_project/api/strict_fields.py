"""Body fields that take a JSON value only as the type the schema names.

DRF's fields coerce: BooleanField reads 0, "no" and "off" as false, CharField turns 42 into
"42", IntegerField reads "7" and 7.0 as 7. A client that sends the wrong type has a bug, and a
silent conversion hides it (an external id sent as a number becomes another conversation; a
verdict of 0 reads as "not needed"). Bodies are JSON only (ApiJSONParser), so every value already
arrives with its JSON type and there is nothing legitimate to convert: these fields refuse the
wrong type with a 400 that names the field and the type expected.

Query parameters are always text: their serializers keep DRF's coercing fields.

StrictModelSerializer maps model fields to these, so a ModelSerializer's generated fields are as
strict as the declared ones.
"""

from __future__ import annotations

from typing import Any

from django.core.validators import RegexValidator
from django.db import models
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

TYPE_MESSAGES = {
    bool: "Must be true or false (a JSON boolean).",
    str: "Must be text (a JSON string).",
    int: "Must be a whole number (a JSON integer).",
}


class _JsonTyped:
    """Refuses a value that is not of `json_type` before the field's own parsing sees it."""

    json_type: type

    def to_internal_value(self, data: Any) -> Any:
        # bool is an int in Python, not in JSON.
        if not isinstance(data, self.json_type) or (self.json_type is int and isinstance(data, bool)):
            raise serializers.ValidationError(TYPE_MESSAGES[self.json_type], code="invalid_type")
        return super().to_internal_value(data)  # type: ignore[misc]


class StrictBooleanField(_JsonTyped, serializers.BooleanField):
    json_type = bool


class StrictCharField(_JsonTyped, serializers.CharField):
    json_type = str


class StrictSlugField(_JsonTyped, serializers.SlugField):
    json_type = str


class StrictIntegerField(_JsonTyped, serializers.IntegerField):
    json_type = int


class StrictChoiceField(_JsonTyped, serializers.ChoiceField):
    # Choices are text here; ChoiceField looks a value up by str(value), so 1 matched a choice "1".
    json_type = str


class StrictPrimaryKeyRelatedField(_JsonTyped, serializers.PrimaryKeyRelatedField):
    # The schema says an id is an integer; DRF also looked up "5".
    json_type = int


# An http(s) URL in RFC 3986's characters: unreserved, reserved and "%" (of a percent-encoding).
# Django's URLValidator takes anything but whitespace in the path, so `http://x/"><script>` passed,
# although the schema says `format: uri` and no URI holds `"`, `<` or `>`. The webhook sender
# speaks http and https only, so the schema says that too.
HTTP_URL = r"^https?://[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+$"


@extend_schema_field({"type": "string", "format": "uri", "pattern": HTTP_URL})
class StrictURLField(_JsonTyped, serializers.URLField):
    json_type = str

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        message = "Enter an http:// or https:// URL in RFC 3986's characters (percent-encode the rest)."
        self.validators.append(RegexValidator(HTTP_URL, message=message))


# A ModelSerializer whose generated fields are the strict ones. (A comment, not a docstring: the
# schema would show it as the description of every serializer made from it.)
class StrictModelSerializer(serializers.ModelSerializer):
    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.BooleanField: StrictBooleanField,
        models.CharField: StrictCharField,
        models.TextField: StrictCharField,
        models.SlugField: StrictSlugField,
        models.URLField: StrictURLField,
        models.IntegerField: StrictIntegerField,
        models.PositiveIntegerField: StrictIntegerField,
        models.PositiveSmallIntegerField: StrictIntegerField,
        models.SmallIntegerField: StrictIntegerField,
        models.BigIntegerField: StrictIntegerField,
    }
    serializer_related_field = StrictPrimaryKeyRelatedField
    serializer_choice_field = StrictChoiceField


class QuerySerializer(serializers.Serializer):
    """Query parameters. They are text by nature, so their fields are DRF's, which parse "7" as 7;
    but DRF reads an empty value (`?after=`) as "not given", and that is more likely a client's bug
    than a wish for the default: refused, as the schema (an integer, an enum) says."""

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        empty = [name for name in self.fields if self.initial_data.get(name) == ""]
        if empty:
            raise serializers.ValidationError(
                {name: "Give a value, or leave the parameter out." for name in empty}
            )
        return attrs
