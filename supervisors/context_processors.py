"""Every console page opens the console socket, so whoever has the console open counts as online.

The queue and an escalation's page set their own `live` (and refresh their live regions on
each event). Other console pages (history, insights, audit) get this one: the socket keeps
presence and shows timer toasts, but the page is not fetched again on every event, since
those pages are reports that would cost a render each time for nothing.
"""

from django.http import HttpRequest

from escalations.selectors import latest_event_id
from supervisors.routing import CONSOLE_SOCKET_PATH

CONSOLE_PREFIX = "/console/"


def live_socket(request: HttpRequest) -> dict:
    if not request.path.startswith(CONSOLE_PREFIX) or not request.user.is_authenticated:
        return {}
    return {"live": live_context(refresh=False)}


def live_context(*, escalation_id: int | None = None, refresh: bool = True) -> dict:
    """What a page needs to keep itself current over the console socket (see static/js/console.js).

    Read before the page's own queries: an event committed meanwhile is then newer than the
    id the page carries, so the socket's replay brings it and the page refreshes.
    """
    return {
        "socket": "/" + CONSOLE_SOCKET_PATH,
        "last_event_id": latest_event_id(),
        "escalation_id": escalation_id,
        "refresh": refresh,
    }
