"""WhiteNoise with an async path.

WhiteNoiseMiddleware (6.x) is sync-only, and one sync-only middleware makes
Django run the whole chain synchronously under ASGI: an async view (the
API's long-poll) would then be wrapped in async_to_sync and hold a worker
thread for the whole wait. This subclass is async-capable, so the chain stays
async and only sync views are moved to threads.
"""

from __future__ import annotations

import zoneinfo
from urllib.parse import unquote

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.utils import timezone
from django.utils.decorators import sync_and_async_middleware
from whitenoise.middleware import WhiteNoiseMiddleware


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        super().__init__(get_response)
        self._is_async = iscoroutinefunction(get_response)
        if self._is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self._is_async:
            return self._acall(request)
        return super().__call__(request)

    def _static_file(self, path_info: str):
        return self.find_file(path_info) if self.autorefresh else self.files.get(path_info)

    async def _acall(self, request):
        if self.autorefresh:  # looks at the file system: keep it off the event loop
            static_file = await sync_to_async(self._static_file, thread_sensitive=False)(request.path_info)
        else:
            static_file = self.files.get(request.path_info)
        if static_file is not None:
            return await sync_to_async(self.serve, thread_sensitive=False)(static_file, request)
        return await self.get_response(request)


TIME_ZONE_COOKIE = "tz"


def _viewer_zone(request) -> zoneinfo.ZoneInfo | None:
    name = unquote(request.COOKIES.get(TIME_ZONE_COOKIE, ""))
    if not name or len(name) > 64:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None  # a made-up or malformed name: fall back to the server's zone


@sync_and_async_middleware
def ViewerTimeZoneMiddleware(get_response):  # noqa: N802 (Django's middleware naming)
    """Pages render times in the zone the browser reported (static/js/timezone.js sets the cookie).

    Times stay stored in UTC; this only changes how templates show them.
    Async-capable for the same reason as StaticFilesMiddleware.
    """
    if iscoroutinefunction(get_response):

        async def middleware(request):
            zone = _viewer_zone(request)
            if zone is None:
                timezone.deactivate()
            else:
                timezone.activate(zone)
            return await get_response(request)

    else:

        def middleware(request):
            zone = _viewer_zone(request)
            if zone is None:
                timezone.deactivate()
            else:
                timezone.activate(zone)
            return get_response(request)

    return middleware
