"""Websocket routes; escalation_project.asgi wraps them in session auth and the Origin check."""

from django.urls import path

from supervisors.consumers import ConsoleConsumer

# The pages name it in <body data-live-socket>, so the path lives in one place.
CONSOLE_SOCKET_PATH = "ws/console/"

websocket_urlpatterns = [
    path(CONSOLE_SOCKET_PATH, ConsoleConsumer.as_asgi()),
]
