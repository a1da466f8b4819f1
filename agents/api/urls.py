from django.urls import path

from agents.api import views

app_name = "config"

urlpatterns = [
    path("agents/", views.AgentListCreate.as_view(), name="agents"),
    path("agents/<int:agent_id>/", views.AgentDetail.as_view(), name="agent"),
    path("agents/<int:agent_id>/evaluate/", views.Evaluate.as_view(), name="evaluate"),
    path("agents/<int:agent_id>/rules/", views.RuleListCreate.as_view(), name="rules"),
    path("agents/<int:agent_id>/rules/<int:rule_id>/", views.RuleDetail.as_view(), name="rule"),
    path("agents/<int:agent_id>/rule-tests/", views.RuleTestListCreate.as_view(), name="rule-tests"),
    path("agents/<int:agent_id>/rule-tests/run/", views.RuleTestRun.as_view(), name="rule-tests-run"),
    path("agents/<int:agent_id>/rule-tests/<int:test_id>/", views.RuleTestDetail.as_view(), name="rule-test"),
    path("teams/", views.TeamList.as_view(), name="teams"),
    path("teams/<int:team_id>/labels/", views.LabelListCreate.as_view(), name="labels"),
    path("teams/<int:team_id>/labels/<int:label_id>/", views.LabelDetail.as_view(), name="label"),
]
