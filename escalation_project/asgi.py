"""ASGI entry point for daphne: HTTP, the MCP server at /mcp/, and the console's websocket at /ws/console/."""

import gc
import os

from escalation_project.asgi_handler import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "escalation_project.settings")

# Initialise Django before importing anything that touches models.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from escalation_project.request_id import WebsocketRequestIdMiddleware  # noqa: E402
from escalations.mcp_http import is_mcp_path, mcp_app  # noqa: E402
from supervisors.routing import websocket_urlpatterns  # noqa: E402


async def http_app(scope, receive, send) -> None:
    """/mcp/ to the MCP SDK (it streams its answers; Django does not see it), the rest to Django."""
    if is_mcp_path(scope["path"]):
        await mcp_app(scope, receive, send)
    else:
        await django_asgi_app(scope, receive, send)


application = ProtocolTypeRouter(
    {
        "http": http_app,
        # The session cookie authenticates the socket, and a browser sends it to
        # us from any page: the Origin check is what stops another site's page
        # from opening a console socket as the user (cross-site websocket hijacking).
        # Outermost: the connection's request id is on every log line, the refusals' too.
        "websocket": WebsocketRequestIdMiddleware(
            AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
        ),
    }
)

# Garbage collection for a long-lived server holding many sockets. What startup built (Django,
# the apps, 130,000 objects) lives as long as the process, yet every full collection walked
# it again: with 500 console sockets a full collection stalled the process for 120-150 ms, and
# the create it landed on answered in 200 ms instead of 50. freeze() takes those objects out of
# the collector's sight, and a larger first threshold makes young collections rarer (Python's
# 700 is sized for small scripts). Measured: bench/console.py, 500 sockets, p99 200 -> 52-57 ms.
gc.freeze()
gc.set_threshold(20_000, 20, 10)
