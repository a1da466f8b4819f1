"""GET /teams/{id}/ladder/ (members) and PUT /teams/{id}/ladder/ (owners): the team's escalation ladder.

PUT replaces the whole ladder, levels numbered in the order given: a ladder is
read and edited as one list (the admin's inline does the same), so there is no
renumbering of single levels to get wrong.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from escalation_project.api import strict_fields as strict
from escalation_project.api.permissions import IsPerson
from escalations import team_settings
from escalations.api.targets import MAX_MINUTES, TEAM_ID, _team
from escalations.choices import Urgency
from escalations.models import LadderLevel
from supervisors.models import Team

# More levels than this is a mistake, not a ladder.
MAX_LEVELS = 10


class LadderLevelSerializer(serializers.Serializer):
    number = strict.StrictIntegerField(read_only=True, help_text="1 is the first level; given by the order.")
    after_minutes = strict.StrictIntegerField(
        min_value=0,
        max_value=MAX_MINUTES,
        help_text="Minutes unclaimed after the previous level (level 1: after opening or a release; 0 there "
        "means at once). Later levels wait at least a minute.",
    )
    min_urgency = strict.StrictChoiceField(
        choices=Urgency.choices,
        default=Urgency.LOW,
        help_text="Escalations of a lower urgency stop at the level before this one.",
    )
    notify_supervisors = strict.StrictBooleanField(default=True, help_text="The team's supervisors on duty.")
    notify_owners = strict.StrictBooleanField(default=False, help_text="The team's owners.")
    notify_users = serializers.ListField(
        child=strict.StrictCharField(), default=list, help_text="These members of the team, by username."
    )
    notify_team = strict.StrictIntegerField(
        allow_null=True, default=None, help_text="Another team (id) whose supervisors on duty are told too."
    )


class LadderSerializer(serializers.Serializer):
    levels = LadderLevelSerializer(many=True, max_length=MAX_LEVELS)  # the schema says maxItems


def _body(team: Team) -> dict[str, Any]:
    levels = LadderLevel.objects.filter(team=team).prefetch_related("notify_users").order_by("number")
    return {
        "levels": [
            {
                "number": level.number,
                "after_minutes": level.after_minutes,
                "min_urgency": level.min_urgency,
                "notify_supervisors": level.notify_supervisors,
                "notify_owners": level.notify_owners,
                "notify_users": sorted(user.get_username() for user in level.notify_users.all()),
                "notify_team": level.notify_team_id,
            }
            for level in levels
        ]
    }


def _levels(team: Team, data: Any) -> list[dict[str, Any]]:
    """The levels of a PUT body, checked, with users and teams looked up; field errors name the level
    (`levels[1].after_minutes`)."""
    if not isinstance(data, dict) or not isinstance(data.get("levels"), list):
        raise serializers.ValidationError(
            {"levels": "Give the ladder as a list of levels (empty: no ladder)."}
        )
    if len(data["levels"]) > MAX_LEVELS:
        raise serializers.ValidationError({"levels": f"At most {MAX_LEVELS} levels."})
    errors: dict[str, list[str]] = {}
    levels = []
    for index, given in enumerate(data["levels"]):
        serializer = LadderLevelSerializer(data=given)
        if not serializer.is_valid():
            detail = serializer.errors if isinstance(serializer.errors, dict) else {"": serializer.errors}
            for field, messages in detail.items():
                errors[f"levels[{index}].{field}"] = [str(message) for message in messages]
            continue
        level = dict(serializer.validated_data)
        if index > 0 and level["after_minutes"] < 1:
            errors[f"levels[{index}].after_minutes"] = ["Levels after the first wait at least a minute."]
        names = set(level["notify_users"])
        # Members of the team only, refused in the words used for a name nobody has: an owner
        # must not learn who else has an account here (escalations.team_settings.ladder_set).
        members = get_user_model().objects.filter(is_active=True, memberships__team=team)
        users = list(members.filter(username__in=names))
        unknown = sorted(names - {user.get_username() for user in users})
        if unknown:
            errors[f"levels[{index}].notify_users"] = [f"No active user named {', '.join(unknown)}."]
        level["notify_users"] = users
        if level["notify_team"] is not None:
            if level["notify_team"] == team.pk:
                errors[f"levels[{index}].notify_team"] = ["Another team: notify_supervisors tells this one."]
            elif not Team.objects.filter(pk=level["notify_team"]).exists():
                errors[f"levels[{index}].notify_team"] = [f"There is no team {level['notify_team']}."]
        levels.append(level)
    if errors:
        raise serializers.ValidationError(errors)
    return levels


class TeamLadder(APIView):
    permission_classes = [IsAuthenticated, IsPerson]

    @extend_schema(parameters=[TEAM_ID], responses=LadderSerializer)
    def get(self, request: Request, team_id: int) -> Response:
        """The team's escalation ladder, level 1 first (members)."""
        return Response(_body(_team(request, team_id)))

    @extend_schema(parameters=[TEAM_ID], request=LadderSerializer, responses=LadderSerializer)
    def put(self, request: Request, team_id: int) -> Response:
        """Replace the team's ladder (owners). Escalations climbing it go on by the new levels."""
        team = _team(request, team_id, owner=True, change="its escalation ladder")
        team_settings.ladder_set(team_id=team.pk, levels=_levels(team, request.data))
        return Response(_body(team))
