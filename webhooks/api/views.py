"""The webhook endpoints of the configuration API.

Members of a team read its endpoints; contributors and owners create, change,
delete and rotate. Another team's endpoints are 404, as if they did not exist.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from escalation_project.api.errors import ApiError
from escalation_project.api.openapi import error_responses
from escalation_project.api.pagination import ApiCursorPagination
from escalation_project.api.permissions import IsPerson
from supervisors.models import Role
from supervisors.selectors import has_team_role, team_ids_with_role
from webhooks import services
from webhooks.api import serializers as s
from webhooks.models import Delivery, Endpoint

CONTRIBUTOR_ONLY = "Only a contributor or owner of the team may change its webhook endpoints."
ENDPOINT_ID = OpenApiParameter("endpoint_id", int, OpenApiParameter.PATH)
DELIVERY_ID = OpenApiParameter("delivery_id", int, OpenApiParameter.PATH)


def endpoints_visible_to(user) -> QuerySet[Endpoint]:
    team_ids = team_ids_with_role(user, Role.SUPERVISOR)
    queryset = Endpoint.objects.all()
    return queryset if team_ids is None else queryset.filter(team_id__in=team_ids)


def _require_contributor(request: Request, team_id: int) -> None:
    if not has_team_role(request.user, team_id, Role.CONTRIBUTOR):
        raise PermissionDenied(CONTRIBUTOR_ONLY)


def _endpoint(request: Request, endpoint_id: int, *, contributor: bool = False) -> Endpoint:
    endpoint = get_object_or_404(endpoints_visible_to(request.user), pk=endpoint_id)
    if contributor:
        _require_contributor(request, endpoint.team_id)
    return endpoint


class _PersonView(generics.GenericAPIView):
    permission_classes = [IsAuthenticated, IsPerson]
    serializer_class = s.EndpointSerializer
    queryset = Endpoint.objects.none()  # for the schema; each method scopes it


class EndpointListCreate(_PersonView):
    @extend_schema(responses=s.EndpointSerializer(many=True))
    def get(self, request: Request) -> Response:
        """The webhook endpoints of the caller's teams, newest first."""
        page = self.paginate_queryset(endpoints_visible_to(request.user))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(request=s.EndpointSerializer, responses={201: s.EndpointWithSecretSerializer})
    def post(self, request: Request) -> Response:
        """Add an endpoint to a team where the caller is a contributor or owner.

        The response holds its secret, the only time it is shown."""
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        team = data.pop("team")
        if not has_team_role(request.user, team.pk, Role.SUPERVISOR):
            # Not a member: the team does not exist as far as the caller can tell.
            raise PermissionDenied(CONTRIBUTOR_ONLY)
        _require_contributor(request, team.pk)
        endpoint = services.endpoint_create(team=team, **data)
        return Response(s.EndpointWithSecretSerializer(endpoint).data, status=status.HTTP_201_CREATED)


class EndpointDetail(_PersonView):
    @extend_schema(parameters=[ENDPOINT_ID])
    def get(self, request: Request, endpoint_id: int) -> Response:
        return Response(self.get_serializer(_endpoint(request, endpoint_id)).data)

    @extend_schema(parameters=[ENDPOINT_ID], request=s.EndpointUpdateSerializer)
    def patch(self, request: Request, endpoint_id: int) -> Response:
        """Change the URL, description, event types or active flag; re-enabling clears the disabled reason."""
        endpoint = _endpoint(request, endpoint_id, contributor=True)
        serializer = s.EndpointUpdateSerializer(endpoint, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        endpoint = services.endpoint_update(endpoint_id=endpoint.pk, data=serializer.validated_data)
        return Response(self.get_serializer(endpoint).data)

    @extend_schema(parameters=[ENDPOINT_ID], responses={204: None})
    def delete(self, request: Request, endpoint_id: int) -> Response:
        endpoint = _endpoint(request, endpoint_id, contributor=True)
        services.endpoint_delete(endpoint_id=endpoint.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class EndpointRotateSecret(_PersonView):
    @extend_schema(parameters=[ENDPOINT_ID], request=None, responses=s.EndpointWithSecretSerializer)
    def post(self, request: Request, endpoint_id: int) -> Response:
        """A new secret, shown once; the old one keeps signing for WEBHOOKS_ROTATION_GRACE_HOURS."""
        endpoint = _endpoint(request, endpoint_id, contributor=True)
        endpoint = services.endpoint_rotate_secret(endpoint_id=endpoint.pk)
        return Response(s.EndpointWithSecretSerializer(endpoint).data)


class DeliveryPagination(ApiCursorPagination):
    # The id, not created_at: unique, so the cursor never skips rows made in the same instant,
    # and served by the (endpoint, -id) index.
    ordering = "-id"


class EndpointDeliveries(_PersonView):
    serializer_class = s.DeliverySerializer
    pagination_class = DeliveryPagination
    queryset = Delivery.objects.none()

    @extend_schema(
        parameters=[ENDPOINT_ID, s.DeliveryListQuerySerializer],
        responses=s.DeliverySerializer(many=True),
    )
    def get(self, request: Request, endpoint_id: int) -> Response:
        """The endpoint's deliveries, newest first, each with its attempts; `status` filters."""
        endpoint = _endpoint(request, endpoint_id)
        query = s.DeliveryListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        deliveries = (
            Delivery.objects.filter(endpoint=endpoint)
            .select_related("event")
            .prefetch_related("attempts")
            .defer("event__payload")
        )
        if "status" in query.validated_data:
            deliveries = deliveries.filter(status=query.validated_data["status"])
        page = self.paginate_queryset(deliveries)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class DeliveryRedeliver(_PersonView):
    serializer_class = s.DeliverySerializer

    @extend_schema(
        parameters=[ENDPOINT_ID, DELIVERY_ID],
        request=None,
        responses={202: s.DeliverySerializer, **error_responses(409)},
        description="Queue one more attempt now, with the same webhook-id (contributors and owners). "
        "409 while the delivery is still pending or retrying: it is queued already.",
    )
    def post(self, request: Request, endpoint_id: int, delivery_id: int) -> Response:
        endpoint = _endpoint(request, endpoint_id, contributor=True)
        delivery = get_object_or_404(Delivery.objects.filter(endpoint=endpoint), pk=delivery_id)
        if not services.delivery_redeliver(delivery_id=delivery.pk):
            raise ApiError(
                status.HTTP_409_CONFLICT,
                "delivery_queued",
                f"This delivery is {delivery.status} already; its next attempt is queued.",
            )
        delivery = Delivery.objects.select_related("event").prefetch_related("attempts").get(pk=delivery.pk)
        return Response(self.get_serializer(delivery).data, status=status.HTTP_202_ACCEPTED)


class EndpointReplayFailed(_PersonView):
    serializer_class = s.ReplayFailedSerializer

    @extend_schema(
        parameters=[ENDPOINT_ID],
        request=s.ReplayFailedSerializer,
        responses={202: s.ReplayFailedResultSerializer},
    )
    def post(self, request: Request, endpoint_id: int) -> Response:
        """Queue again the failed deliveries of events since `since` (after re-enabling), same webhook-ids."""
        endpoint = _endpoint(request, endpoint_id, contributor=True)
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        queued = services.deliveries_replay_failed(
            endpoint_id=endpoint.pk, since=serializer.validated_data["since"]
        )
        return Response({"queued": queued}, status=status.HTTP_202_ACCEPTED)
