"""DRF views of the configuration API: authenticate, scope, validate, call a service, serialize.

Who may do what:
- reads: any member of the agent's (or label's) team, whatever their role;
- writes, evaluate and running the rule tests: contributors and owners;
- evaluate also: the agent's own key, so an agent can dry-run its rules before going live.
Another team's objects are 404, as if they did not exist; a member without the role gets 403.
"""

from __future__ import annotations

from django.db.models import OuterRef, QuerySet, Subquery, Value
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agents import services
from agents.api import serializers as s
from agents.models import Agent, EscalationRule, Label, RuleTestCase
from agents.rule_bench import run_rule_tests
from agents.selectors import agents_visible_to, teams_visible_to
from escalation_project.api.auth import calling_agent
from escalation_project.api.openapi import error_responses
from escalation_project.api.pagination import ApiCursorPagination
from escalation_project.api.permissions import IsPerson
from supervisors.models import Membership, Role, Team
from supervisors.selectors import has_team_role

CONTRIBUTOR_ONLY = "Only a contributor or owner of the team may do this to its configuration."
AGENT_ID = OpenApiParameter("agent_id", int, OpenApiParameter.PATH)
TEAM_ID = OpenApiParameter("team_id", int, OpenApiParameter.PATH)


def _ordered_by(*fields: str) -> type[ApiCursorPagination]:
    return type("OrderedCursorPagination", (ApiCursorPagination,), {"ordering": fields})


def _require_contributor(request: Request, team_id: int) -> None:
    if not has_team_role(request.user, team_id, Role.CONTRIBUTOR):
        raise PermissionDenied(CONTRIBUTOR_ONLY)


def _agent(request: Request, agent_id: int, *, contributor: bool = False) -> Agent:
    agent = get_object_or_404(agents_visible_to(user=request.user), pk=agent_id)
    if contributor:
        _require_contributor(request, agent.team_id)
    return agent


def _team(request: Request, team_id: int, *, contributor: bool = False) -> Team:
    team = get_object_or_404(teams_visible_to(user=request.user), pk=team_id)
    if contributor:
        _require_contributor(request, team.pk)
    return team


class _PersonView(generics.GenericAPIView):
    permission_classes = [IsAuthenticated, IsPerson]


class AgentListCreate(_PersonView):
    serializer_class = s.AgentSerializer

    def get_queryset(self) -> QuerySet[Agent]:
        return agents_visible_to(user=self.request.user)

    @extend_schema(responses=s.AgentSerializer(many=True))
    def get(self, request: Request) -> Response:
        """The agents of the caller's teams, newest first."""
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(responses={201: s.AgentSerializer})
    def post(self, request: Request) -> Response:
        """Make an agent in a team where the caller is a contributor or owner."""
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        agent = services.agent_create(user=request.user, data=serializer.validated_data)
        return Response(self.get_serializer(agent).data, status=status.HTTP_201_CREATED)


class AgentDetail(_PersonView):
    """No DELETE: an agent's conversations and escalations keep pointing at it.
    Turn it off with PATCH {"escalation_enabled": false} instead."""

    serializer_class = s.AgentSerializer

    def get(self, request: Request, agent_id: int) -> Response:
        return Response(self.get_serializer(_agent(request, agent_id)).data)

    @extend_schema(request=s.AgentUpdateSerializer, responses=s.AgentSerializer)
    def patch(self, request: Request, agent_id: int) -> Response:
        agent = _agent(request, agent_id, contributor=True)
        serializer = s.AgentUpdateSerializer(agent, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        agent = services.agent_update(agent_id=agent.pk, user=request.user, data=serializer.validated_data)
        return Response(self.get_serializer(agent).data)


class Evaluate(APIView):
    @extend_schema(
        request=s.EvaluateSerializer,
        responses={200: s.EvaluationSerializer, **error_responses(503)},
        description=(
            "A dry run of the agent's saved rules on the newest of `messages` (the rest is the history "
            "sentiment and loop rules read). Writes nothing. A contributor or owner of the team, or the "
            "agent's own key."
        ),
    )
    def post(self, request: Request, agent_id: int) -> Response:
        own = calling_agent(request)
        if own is not None:
            # An agent key reaches only its own agent; any other id is one it cannot see.
            agent = get_object_or_404(Agent.objects.filter(pk=own.pk), pk=agent_id)
        else:
            agent = _agent(request, agent_id, contributor=True)
        serializer = s.EvaluateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        evaluation = services.evaluate_conversation(
            agent=agent, messages=serializer.validated_data["messages"]
        )
        agent.refresh_from_db(fields=["escalation_enabled"])
        return Response(s.evaluation_body(agent, evaluation))


class RuleListCreate(_PersonView):
    serializer_class = s.RuleSerializer
    pagination_class = _ordered_by("order", "id")

    queryset = EscalationRule.objects.none()  # for the schema; get() scopes it

    @extend_schema(parameters=[AGENT_ID], responses=s.RuleSerializer(many=True))
    def get(self, request: Request, agent_id: int) -> Response:
        """The agent's rules in the order they are evaluated."""
        page = self.paginate_queryset(EscalationRule.objects.filter(agent=_agent(request, agent_id)))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(parameters=[AGENT_ID], responses={201: s.RuleSerializer})
    def post(self, request: Request, agent_id: int) -> Response:
        agent = _agent(request, agent_id, contributor=True)
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        rule = services.rule_create(agent=agent, user=request.user, data=serializer.validated_data)
        return Response(self.get_serializer(rule).data, status=status.HTTP_201_CREATED)


class RuleDetail(_PersonView):
    serializer_class = s.RuleSerializer

    def _rule(
        self, request: Request, agent_id: int, rule_id: int, *, contributor: bool = False
    ) -> EscalationRule:
        agent = _agent(request, agent_id, contributor=contributor)
        return get_object_or_404(EscalationRule.objects.filter(agent=agent), pk=rule_id)

    def get(self, request: Request, agent_id: int, rule_id: int) -> Response:
        return Response(self.get_serializer(self._rule(request, agent_id, rule_id)).data)

    def patch(self, request: Request, agent_id: int, rule_id: int) -> Response:
        rule = self._rule(request, agent_id, rule_id, contributor=True)
        serializer = self.get_serializer(rule, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        rule = services.rule_update(rule_id=rule.pk, user=request.user, data=serializer.validated_data)
        return Response(self.get_serializer(rule).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, agent_id: int, rule_id: int) -> Response:
        services.rule_delete(rule=self._rule(request, agent_id, rule_id, contributor=True), user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RuleTestListCreate(_PersonView):
    serializer_class = s.RuleTestSerializer
    pagination_class = _ordered_by("name", "id")

    queryset = RuleTestCase.objects.none()  # for the schema; get() scopes it

    @extend_schema(parameters=[AGENT_ID], responses=s.RuleTestSerializer(many=True))
    def get(self, request: Request, agent_id: int) -> Response:
        page = self.paginate_queryset(RuleTestCase.objects.filter(agent=_agent(request, agent_id)))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(parameters=[AGENT_ID], responses={201: s.RuleTestSerializer})
    def post(self, request: Request, agent_id: int) -> Response:
        agent = _agent(request, agent_id, contributor=True)
        serializer = self.get_serializer(data=request.data, context={"agent": agent})
        serializer.is_valid(raise_exception=True)
        case = services.rule_test_create(agent=agent, data=serializer.validated_data)
        return Response(self.get_serializer(case).data, status=status.HTTP_201_CREATED)


class RuleTestDetail(_PersonView):
    serializer_class = s.RuleTestSerializer

    def _case(
        self, request: Request, agent_id: int, test_id: int, *, contributor: bool = False
    ) -> RuleTestCase:
        agent = _agent(request, agent_id, contributor=contributor)
        return get_object_or_404(RuleTestCase.objects.filter(agent=agent), pk=test_id)

    def get(self, request: Request, agent_id: int, test_id: int) -> Response:
        return Response(self.get_serializer(self._case(request, agent_id, test_id)).data)

    def patch(self, request: Request, agent_id: int, test_id: int) -> Response:
        case = self._case(request, agent_id, test_id, contributor=True)
        serializer = self.get_serializer(case, data=request.data, partial=True, context={"agent": case.agent})
        serializer.is_valid(raise_exception=True)
        case = services.rule_test_update(case=case, data=serializer.validated_data)
        return Response(self.get_serializer(case).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, agent_id: int, test_id: int) -> Response:
        services.rule_test_delete(case=self._case(request, agent_id, test_id, contributor=True))
        return Response(status=status.HTTP_204_NO_CONTENT)


class RuleTestRun(APIView):
    # An APIView, not a GenericAPIView: it has no serializer of its input, and OPTIONS on a
    # GenericAPIView without one was a 500.
    permission_classes = [IsAuthenticated, IsPerson]

    @extend_schema(request=None, responses=s.RuleTestRunSerializer)
    def post(self, request: Request, agent_id: int) -> Response:
        """Run the agent's rule tests against its saved rules now; writes nothing."""
        agent = _agent(request, agent_id, contributor=True)
        return Response(s.rule_test_run_body(run_rule_tests(agent)))


class LabelListCreate(_PersonView):
    serializer_class = s.LabelSerializer
    pagination_class = _ordered_by("kind", "name")

    queryset = Label.objects.none()  # for the schema; get() scopes it

    @extend_schema(parameters=[TEAM_ID], responses=s.LabelSerializer(many=True))
    def get(self, request: Request, team_id: int) -> Response:
        """The team's topics and areas: the values agents' and rules' topic and area may take."""
        page = self.paginate_queryset(Label.objects.filter(team=_team(request, team_id)))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(parameters=[TEAM_ID], responses={201: s.LabelSerializer})
    def post(self, request: Request, team_id: int) -> Response:
        team = _team(request, team_id, contributor=True)
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        label = services.label_create(team=team, **serializer.validated_data)
        return Response(self.get_serializer(label).data, status=status.HTTP_201_CREATED)


class LabelDetail(_PersonView):
    serializer_class = s.LabelSerializer

    @extend_schema(responses={204: None, **error_responses(409)})
    def delete(self, request: Request, team_id: int, label_id: int) -> Response:
        team = _team(request, team_id, contributor=True)
        services.label_delete(label=get_object_or_404(Label.objects.filter(team=team), pk=label_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class TeamList(generics.GenericAPIView):
    """People and agent keys alike: what a client needs before it picks a team's topic or area."""

    serializer_class = s.TeamSerializer
    pagination_class = _ordered_by("name", "id")
    queryset = Team.objects.none()  # for the schema; get() scopes it

    @extend_schema(responses=s.TeamSerializer(many=True))
    def get(self, request: Request) -> Response:
        """The teams the caller belongs to, each with its labels and the caller's role in it.
        An agent key: its agent's team (role "agent")."""
        own = calling_agent(request)
        if own is not None:
            teams = Team.objects.filter(pk=own.team_id).annotate(caller_role=Value(s.AGENT_ROLE))
        else:
            role = Membership.objects.filter(team=OuterRef("pk"), user=request.user).values("role")[:1]
            teams = Team.objects.filter(memberships__user=request.user).annotate(caller_role=Subquery(role))
        page = self.paginate_queryset(teams.prefetch_related("labels"))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)
