"""Websocket routes; escalation_project.asgi wraps them in session auth and the Origin check."""

from django.urls import path

from supervisors.consumers import ConsoleConsumer

websocket_urlpatterns = [
    path("ws/console/", ConsoleConsumer.as_asgi()),
]
