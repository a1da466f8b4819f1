"""GET /teams/{id}/targets/ (members) and PUT|DELETE /teams/{id}/targets/{urgency}/ (owners)."""

from __future__ import annotations

from dataclasses import asdict

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agents.selectors import teams_visible_to
from escalation_project.api import strict_fields as strict
from escalation_project.api.permissions import IsPerson
from escalations import team_settings
from escalations.choices import Urgency
from escalations.targets import targets_for
from supervisors.models import Role, Team
from supervisors.selectors import has_team_role

TEAM_ID = OpenApiParameter("team_id", int, OpenApiParameter.PATH)
URGENCY = OpenApiParameter("urgency", str, OpenApiParameter.PATH, enum=Urgency.values)
# A year: longer targets are a typo, not a policy.
MAX_MINUTES = 366 * 24 * 60


def _minutes(help_text: str) -> strict.StrictIntegerField:
    return strict.StrictIntegerField(min_value=1, max_value=MAX_MINUTES, help_text=help_text)


class TargetInputSerializer(serializers.Serializer):
    response_minutes = _minutes("Time to claim.")
    resolution_minutes = _minutes("Time to answer.")
    claim_minutes = _minutes("How long a claim lasts.")
    reminder_minutes = _minutes("Past a target, remind at most this often.")


class TargetSerializer(TargetInputSerializer):
    urgency = serializers.ChoiceField(choices=Urgency.choices)
    source = serializers.ChoiceField(
        choices=["team", "default", "built-in"],
        help_text="team: this team's own; default: the global default; built-in: the settings.",
    )


def _body(team: Team, urgency: str) -> dict:
    return {"urgency": urgency, **asdict(targets_for(team_id=team.pk, urgency=urgency))}


def _team(request: Request, team_id: int, *, owner: bool = False, change: str = "its targets") -> Team:
    """The team, if the user is a member (404 otherwise); with `owner`, only for its owners (403)."""
    team = get_object_or_404(teams_visible_to(user=request.user), pk=team_id)
    if owner and not has_team_role(request.user, team.pk, Role.OWNER):
        raise PermissionDenied(f"Only an owner of the team may change {change}.")
    return team


def _urgency(value: str) -> str:
    if value not in Urgency.values:
        raise serializers.ValidationError(
            {"urgency": f"{value!r} is not one of {', '.join(Urgency.values)}."}
        )
    return value


class TeamTargets(APIView):
    permission_classes = [IsAuthenticated, IsPerson]

    @extend_schema(parameters=[TEAM_ID], responses=TargetSerializer(many=True))
    def get(self, request: Request, team_id: int) -> Response:
        """The targets in force for each urgency, high first, and where each comes from."""
        team = _team(request, team_id)
        return Response([_body(team, urgency) for urgency in reversed(Urgency.values)])


class TeamTarget(APIView):
    permission_classes = [IsAuthenticated, IsPerson]

    @extend_schema(parameters=[TEAM_ID, URGENCY], request=TargetInputSerializer, responses=TargetSerializer)
    def put(self, request: Request, team_id: int, urgency: str) -> Response:
        """Set the team's own targets for this urgency (owners). New escalations and claims use them."""
        team = _team(request, team_id, owner=True)
        urgency = _urgency(urgency)
        serializer = TargetInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        team_settings.urgency_target_set(team_id=team.pk, urgency=urgency, **serializer.validated_data)
        return Response(_body(team, urgency))

    @extend_schema(parameters=[TEAM_ID, URGENCY], responses={204: None})
    def delete(self, request: Request, team_id: int, urgency: str) -> Response:
        """Back to the default targets for this urgency (owners)."""
        team = _team(request, team_id, owner=True)
        team_settings.urgency_target_reset(team_id=team.pk, urgency=_urgency(urgency))
        return Response(status=status.HTTP_204_NO_CONTENT)
