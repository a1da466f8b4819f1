from django.contrib.auth import views as auth_views
from django.urls import path

from supervisors import views, views_audit, views_insights, views_rules

app_name = "console"

urlpatterns = [
    path("", views.queue, name="queue"),
    path("history/", views.history, name="history"),
    path("on-duty/", views.on_duty, name="on_duty"),
    path("insights/", views_insights.insights_page, name="insights"),
    path("insights/suggestions/", views_insights.suggestions_page, name="suggestions"),
    path("audit/", views_audit.audit_log, name="audit"),
    path("rules/", views_rules.rules_page, name="rules"),
    path("rules/<int:rule_id>/", views_rules.rule_page, name="rule"),
    path("rules/<int:rule_id>/suggestions/accept/", views_rules.accept, name="rule_accept"),
    path("rules/<int:rule_id>/suggestions/dismiss/", views_rules.dismiss, name="rule_dismiss"),
    path("escalations/<int:escalation_id>/", views.detail, name="detail"),
    path("escalations/<int:escalation_id>/claim/", views.claim, name="claim"),
    path("escalations/<int:escalation_id>/release/", views.release, name="release"),
    path("escalations/<int:escalation_id>/extend/", views.extend, name="extend"),
    path("escalations/<int:escalation_id>/respond/", views.respond, name="respond"),
    path("escalations/<int:escalation_id>/dismiss/", views.dismiss, name="dismiss"),
    path("escalations/<int:escalation_id>/feedback/", views.feedback, name="feedback"),
    # Supervisors are not staff, so the admin's login would turn them away.
    path(
        "login/",
        auth_views.LoginView.as_view(template_name="console/login.html", redirect_authenticated_user=True),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(next_page="console:login"), name="logout"),
]
