from typing import Any

from rest_framework import serializers

from escalation_project.api import strict_fields as strict
from escalations.models import EventType
from webhooks.models import Attempt, Delivery, DeliveryStatus, Endpoint


class EndpointSerializer(strict.StrictModelSerializer):
    """Reads never include the secret: it is in the create and rotate-secret responses only."""

    event_types = serializers.ListField(
        child=strict.StrictChoiceField(choices=EventType.choices),
        required=False,
        help_text="Event types to receive; empty means all, including types added later.",
    )
    url = strict.StrictURLField(max_length=2000)
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
            "resting_until",
            "secret_rotation_ends_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["disabled_at", "disabled_reason", "resting_until", "created_at", "updated_at"]
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


class AttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = Attempt
        fields = [
            "number",
            "started_at",
            "duration_ms",
            "status_code",
            "outcome",
            "error",
            "response_excerpt",
        ]


class DeliverySerializer(serializers.ModelSerializer):
    webhook_id = serializers.CharField(
        read_only=True, help_text="The webhook-id header: the same on every try."
    )
    event_id = serializers.IntegerField(read_only=True)
    event_type = serializers.CharField(source="event.type", read_only=True)
    attempts = AttemptSerializer(many=True, read_only=True)

    class Meta:
        model = Delivery
        fields = [
            "id",
            "webhook_id",
            "event_id",
            "event_type",
            "status",
            "attempt_count",
            "next_attempt_at",
            "last_status_code",
            "last_error",
            "request_id",
            "created_at",
            "updated_at",
            "attempts",
        ]
        read_only_fields = fields


class DeliveryListQuerySerializer(strict.QuerySerializer):
    status = serializers.ChoiceField(choices=DeliveryStatus.choices, required=False)


class ReplayFailedSerializer(serializers.Serializer):
    since = serializers.DateTimeField(
        help_text="Failed deliveries of events from this time on are queued again (ISO 8601)."
    )


class ReplayFailedResultSerializer(serializers.Serializer):
    queued = serializers.IntegerField(help_text="How many failed deliveries were queued again.")
