from django.urls import path

from escalations.api import ladder, targets, views
from escalations.api.longpoll import escalation_detail

app_name = "api"

urlpatterns = [
    path("escalations/", views.EscalationListCreate.as_view(), name="escalations"),
    path("escalations/<int:pk>/", escalation_detail, name="escalation"),
    path("escalations/<int:pk>/claim/", views.ClaimEscalation.as_view(), name="claim"),
    path("escalations/<int:pk>/release/", views.ReleaseEscalation.as_view(), name="release"),
    path("escalations/<int:pk>/extend/", views.ExtendClaim.as_view(), name="extend"),
    path("escalations/<int:pk>/respond/", views.RespondEscalation.as_view(), name="respond"),
    path("escalations/<int:pk>/dismiss/", views.DismissEscalation.as_view(), name="dismiss"),
    path("escalations/<int:pk>/feedback/", views.EscalationFeedback.as_view(), name="feedback"),
    path("escalations/<int:pk>/urgency/", views.EscalationUrgency.as_view(), name="urgency"),
    path("escalations/<int:pk>/withdraw/", views.WithdrawEscalation.as_view(), name="withdraw"),
    path("events/", views.EventFeed.as_view(), name="events"),
    path("teams/<int:team_id>/targets/", targets.TeamTargets.as_view(), name="team-targets"),
    path("teams/<int:team_id>/targets/<str:urgency>/", targets.TeamTarget.as_view(), name="team-target"),
    path("teams/<int:team_id>/ladder/", ladder.TeamLadder.as_view(), name="team-ladder"),
    path("conversations/", views.ConversationCreate.as_view(), name="conversations"),
    path("conversations/<int:pk>/", views.ConversationDetail.as_view(), name="conversation"),
    path("conversations/<int:pk>/messages/", views.ConversationMessages.as_view(), name="messages"),
]
