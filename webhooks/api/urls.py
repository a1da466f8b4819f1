from django.urls import path

from webhooks.api import views

app_name = "webhooks"

urlpatterns = [
    path("webhook-endpoints/", views.EndpointListCreate.as_view(), name="endpoints"),
    path("webhook-endpoints/<int:endpoint_id>/", views.EndpointDetail.as_view(), name="endpoint"),
    path(
        "webhook-endpoints/<int:endpoint_id>/rotate-secret/",
        views.EndpointRotateSecret.as_view(),
        name="rotate-secret",
    ),
    path(
        "webhook-endpoints/<int:endpoint_id>/replay-failed/",
        views.EndpointReplayFailed.as_view(),
        name="replay-failed",
    ),
    path(
        "webhook-endpoints/<int:endpoint_id>/deliveries/",
        views.EndpointDeliveries.as_view(),
        name="deliveries",
    ),
    path(
        "webhook-endpoints/<int:endpoint_id>/deliveries/<int:delivery_id>/redeliver/",
        views.DeliveryRedeliver.as_view(),
        name="redeliver",
    ),
]
