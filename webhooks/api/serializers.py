from typing import Any

from rest_framework import serializers

from escalations.models import EventType
from webhooks.models import Endpoint


class EndpointSerializer(serializers.ModelSerializer):
    """Reads never include the secret: it is in the create and rotate-secret responses only."""

    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=EventType.choices),
        required=False,
        help_text="Event types to receive; empty means all, including types added later.",
    )
    url = serializers.URLField(max_length=2000)
    secret_rotation_ends_at = serializers.DateTimeField(
        source="previous_secret_expires_at", read_only=True, allow_null=True
    )

    class Meta:
        model = Endpoint
        fields = [
            "id",
            "team",
            "url",
            "description",
            "event_types",
            "active",
            "disabled_at",
            "disabled_reason",
            "secret_rotation_ends_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["disabled_at", "disabled_reason", "created_at", "updated_at"]
        validators: list[Any] = []


class EndpointUpdateSerializer(EndpointSerializer):
    class Meta(EndpointSerializer.Meta):
        read_only_fields = [*EndpointSerializer.Meta.read_only_fields, "team"]


class EndpointWithSecretSerializer(EndpointSerializer):
    secret = serializers.CharField(
        read_only=True, help_text="Shown once: store it now. Verify deliveries with it (Standard Webhooks)."
    )

    class Meta(EndpointSerializer.Meta):
        fields = [*EndpointSerializer.Meta.fields, "secret"]
