"""DRF views of /api/v1/: authenticate, validate, call a service, serialize. Nothing else."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agents.conversations import conversation_get_or_create
from agents.models import Conversation
from agents.services import post_message_to
from escalation_project.api.auth import calling_agent
from escalation_project.api.errors import ApiError
from escalation_project.api.openapi import error_responses
from escalation_project.api.permissions import IsAgent, IsPerson
from escalations import idempotency, services
from escalations.api import serializers as s
from escalations.api.filters import EscalationFilter, EscalationOrdering
from escalations.models import ACTIVE_STATUSES, Escalation
from escalations.selectors import (
    conversations_visible_to,
    escalation_with_relations,
    escalations_visible_to,
    events_visible_to,
)
from escalations.tool_call import escalate_to_human

IDEMPOTENCY_HEADER = "Idempotency-Key"
# A verb on an escalation: the escalation as it is after, or 409 when its state refuses the verb.
ACTION_RESPONSES = {200: s.EscalationSerializer, **error_responses(409)}


def _scope(request: Request) -> dict[str, Any]:
    return s.caller(request)


def _visible_escalation(request: Request, pk: int) -> Escalation:
    # Another team's escalation is a 404, exactly like one that does not exist.
    return get_object_or_404(escalations_visible_to(**_scope(request)), pk=pk)


def fresh_body(escalation_id: int, scope: dict[str, Any]) -> dict[str, Any]:
    """The escalation as it is now, to the caller of `scope` (_scope). Call only after it was checked."""
    return s.escalation_body(escalation_with_relations().get(pk=escalation_id), **scope)


class EscalationListCreate(generics.GenericAPIView):
    serializer_class = s.EscalationSerializer
    filterset_class = EscalationFilter
    filter_backends = [DjangoFilterBackend, EscalationOrdering]

    def get_queryset(self) -> QuerySet[Escalation]:
        return escalations_visible_to(**_scope(self.request))

    @extend_schema(responses=s.EscalationSerializer(many=True))
    def get(self, request: Request) -> Response:
        """The caller's escalations (an agent: its own; a person: their teams'), newest first."""
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        request=s.EscalateSerializer,
        responses={201: s.EscalationSerializer, 200: s.EscalationSerializer, **error_responses(409, 422)},
        parameters=[OpenApiParameter(IDEMPOTENCY_HEADER, str, OpenApiParameter.HEADER)],
        description=(
            "escalate_to_human: 201 with a new escalation, or 200 when the conversation already had an "
            "open one and this call was added to it as evidence (severity and urgency only go up). "
            "Same Idempotency-Key and body: the first response again; another body: 422; "
            "while the first is still running: 409."
        ),
    )
    def post(self, request: Request) -> Response:
        if not IsAgent().has_permission(request, self):
            self.permission_denied(request, message=IsAgent.message)
        agent = calling_agent(request)
        key = request.headers.get(IDEMPOTENCY_HEADER, "").strip()
        if not key:
            return self._escalate(request)
        if len(key) > 200:
            raise ApiError(400, "invalid", "The Idempotency-Key is longer than 200 characters.")
        fingerprint = idempotency.fingerprint(method=request.method, path=request.path, body=request.data)
        try:
            claim = idempotency.idempotency_claim(agent=agent, key=key, request_fingerprint=fingerprint)
        except idempotency.KeyReused:
            raise ApiError(
                422, "idempotency_key_reused", "This Idempotency-Key was already used with another request."
            ) from None
        except idempotency.KeyInFlight:
            raise ApiError(
                409,
                "idempotency_key_in_flight",
                "A request with this Idempotency-Key is still being processed; retry shortly.",
            ) from None
        if claim.replay:
            response = Response(claim.record.response_body, status=claim.record.response_code)
            response["Idempotent-Replayed"] = "true"
            return response
        try:
            response = self._escalate(request)
        except BaseException:
            # A failed request does not use up the key: the retry does the work.
            idempotency.idempotency_release(record=claim.record)
            raise
        idempotency.idempotency_complete(
            record=claim.record, status_code=response.status_code, body=response.data
        )
        return response

    def _escalate(self, request: Request) -> Response:
        serializer = s.EscalateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        result = escalate_to_human(
            agent=calling_agent(request),
            conversation_id=data.pop("conversation_id", None),
            external_id=data.pop("conversation", ""),
            **data,
        )
        # The service returns the row as it committed it, relations loaded: no re-read.
        return Response(
            s.escalation_body(result.escalation, agent=calling_agent(request)),
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )


class EscalationDetail(APIView):
    """Sync part of GET /escalations/{id}/: auth, throttle, validation, the scoped read.

    The long-poll around it is escalations.api.longpoll.escalation_detail.
    """

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "wait",
                # The server's limit, read when the schema is made (settings do not change at run time).
                {"type": "integer", "minimum": 0, "maximum": settings.API_LONG_POLL_MAX_SECONDS},
                description="Seconds to wait for the escalation to become final (larger than the "
                "maximum, API_LONG_POLL_MAX_SECONDS: 400).",
            )
        ],
        responses=s.EscalationSerializer,
        description="The escalation; `resolution` is null until it is final. With `?wait=N` the "
        "answer comes as soon as it is final, or after N seconds as it is then: the agent's long-poll.",
    )
    def get(self, request: Request, pk: int) -> Response:
        s.WaitSerializer(data=request.query_params, max_wait=settings.API_LONG_POLL_MAX_SECONDS).is_valid(
            raise_exception=True
        )
        return Response(s.escalation_body(_visible_escalation(request, pk), **_scope(request)))


class _PersonAction(APIView):
    permission_classes = [IsAuthenticated, IsPerson]
    input_serializer: type = s.ReasonSerializer

    def post(self, request: Request, pk: int) -> Response:
        _visible_escalation(request, pk)
        serializer = self.input_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        self.act(pk, request.user, **serializer.validated_data)
        return Response(fresh_body(pk, _scope(request)))

    def act(self, pk: int, user, **data: Any) -> None:
        raise NotImplementedError


@extend_schema(request=s.ReasonSerializer, responses=ACTION_RESPONSES)
class ClaimEscalation(_PersonAction):
    def act(self, pk, user, reason: str = "") -> None:
        services.claim(escalation_id=pk, user=user, reason=reason)


@extend_schema(request=s.ReasonSerializer, responses=ACTION_RESPONSES)
class ReleaseEscalation(_PersonAction):
    def act(self, pk, user, reason: str = "") -> None:
        services.release(escalation_id=pk, user=user, reason=reason)


@extend_schema(
    request=None,
    responses=ACTION_RESPONSES,
    description="The claimer renews the claim: `claim_expires_at` becomes now + the urgency's claim time.",
)
class ExtendClaim(_PersonAction):
    input_serializer = s.NoInputSerializer

    def act(self, pk, user) -> None:
        services.extend_claim(escalation_id=pk, user=user)


@extend_schema(request=s.RespondSerializer, responses=ACTION_RESPONSES)
class RespondEscalation(_PersonAction):
    input_serializer = s.RespondSerializer

    def act(self, pk, user, guidance: str, needed: bool | None = None) -> None:
        services.respond(escalation_id=pk, user=user, guidance=guidance, needed=needed)


@extend_schema(request=s.DismissSerializer, responses=ACTION_RESPONSES)
class DismissEscalation(_PersonAction):
    input_serializer = s.DismissSerializer

    def act(self, pk, user, note: str = "", needed: bool | None = None) -> None:
        services.dismiss(escalation_id=pk, user=user, note=note, needed=needed)


@extend_schema(
    request=s.FeedbackSerializer,
    responses=ACTION_RESPONSES,
    description="Mark whether a human was needed: at any time, by a supervisor of the team; "
    "changeable (each change is audited and sends an `escalation.updated` event).",
)
class EscalationFeedback(_PersonAction):
    input_serializer = s.FeedbackSerializer

    def act(self, pk, user, needed: bool) -> None:
        services.mark_needed(escalation_id=pk, user=user, needed=needed)


@extend_schema(
    request=s.UrgencySerializer,
    responses=ACTION_RESPONSES,
    description="Raise or lower an active escalation's urgency (a supervisor of the team): its response "
    "and resolution due times are counted again from its opening with the new urgency's targets, and "
    "reminders, timeout and ladder follow; an `escalation.updated` event lists what moved.",
)
class EscalationUrgency(_PersonAction):
    input_serializer = s.UrgencySerializer

    def act(self, pk, user, urgency: str, reason: str = "") -> None:
        services.change_urgency(escalation_id=pk, user=user, urgency=urgency, reason=reason)


@extend_schema(request=s.WithdrawSerializer, responses=ACTION_RESPONSES)
class WithdrawEscalation(APIView):
    permission_classes = [IsAuthenticated, IsAgent]

    def post(self, request: Request, pk: int) -> Response:
        _visible_escalation(request, pk)
        serializer = s.WithdrawSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.withdraw(escalation_id=pk, agent=calling_agent(request), **serializer.validated_data)
        return Response(fresh_body(pk, _scope(request)))


class EventFeed(APIView):
    """GET /events/?after=<id>: events in id order; pass `next_after` back to continue."""

    @extend_schema(parameters=[s.EventFeedQuerySerializer], responses=s.EventPageSerializer)
    def get(self, request: Request) -> Response:
        query = s.EventFeedQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        after, limit = query.validated_data["after"], query.validated_data["limit"]
        # One extra row tells whether there is more without a count query.
        events = list(events_visible_to(**_scope(request)).filter(id__gt=after).order_by("id")[: limit + 1])
        has_more = len(events) > limit
        events = events[:limit]
        return Response(
            {
                "results": s.EventSerializer(events, many=True).data,
                "next_after": events[-1].id if events else after,
                "has_more": has_more,
            }
        )


class ConversationCreate(APIView):
    permission_classes = [IsAuthenticated, IsAgent]

    @extend_schema(
        request=s.ConversationCreateSerializer,
        responses={201: s.ConversationSerializer, 200: s.ConversationSerializer},
        description="201 with a new conversation, or 200 with the agent's existing one of that external_id.",
    )
    def post(self, request: Request) -> Response:
        serializer = s.ConversationCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        conversation, created = conversation_get_or_create(
            agent=calling_agent(request), **serializer.validated_data
        )
        return Response(
            s.conversation_body(conversation, _open_escalation_of(conversation), **_scope(request)),
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class ConversationDetail(APIView):
    @extend_schema(responses=s.ConversationSerializer)
    def get(self, request: Request, pk: int) -> Response:
        conversation = get_object_or_404(conversations_visible_to(**_scope(request)), pk=pk)
        return Response(
            s.conversation_body(conversation, _open_escalation_of(conversation), **_scope(request))
        )


def _open_escalation_of(conversation) -> Escalation | None:
    return (
        escalations_visible_to(agent=conversation.agent, user=None)
        .filter(conversation=conversation, status__in=ACTIVE_STATUSES)
        .first()
    )


class ConversationMessages(APIView):
    permission_classes = [IsAuthenticated, IsAgent]

    @extend_schema(
        request=s.MessageCreateSerializer,
        responses={201: s.PostedMessageSerializer, **error_responses(409, 503)},
        description=(
            "Record a message; the agent's rules run on it server-side. 201 with the message, the "
            "escalation it opened or added to (or null), the rules that fired and `paused`: whether the "
            "conversation now waits for a person. An agent message while a blocking escalation waits: "
            "409 conversation_paused."
        ),
    )
    def post(self, request: Request, pk: int) -> Response:
        serializer = s.MessageCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            # Whose conversation it is, checked by the service's one locked read of it.
            posted = post_message_to(
                agent=calling_agent(request), conversation_id=pk, **serializer.validated_data
            )
        except Conversation.DoesNotExist:
            raise Http404 from None
        # The service returns the escalation as it committed it (as the tool call's does): no re-read.
        return Response(
            s.posted_message_body(posted, agent=calling_agent(request)), status=status.HTTP_201_CREATED
        )
