"""A request body larger than DATA_UPLOAD_MAX_MEMORY_SIZE is a 413 that names the limit.

Django's own answer (RequestDataTooBig) is its HTML 400 page, which tells an API
client neither what went wrong nor in the API's error shape.
"""

from __future__ import annotations

from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.decorators import sync_and_async_middleware
from django.utils.html import escape

from escalation_project.api.errors import body_too_large_message, error_body


def body_too_large(request: HttpRequest) -> HttpResponse:
    """413 in the API's error shape under /api/, a plain page elsewhere (console, admin)."""
    message = body_too_large_message()
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("body_too_large", message), status=413)
    title = "Request too large"
    page = f"<!doctype html><title>{title}</title><h1>{title} (413)</h1><p>{escape(message)}</p>"
    return HttpResponse(page, status=413)


def _declared_too_large(request: HttpRequest) -> bool:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return False  # Django reads it as 0 too; the body is then checked as it is read
    return limit is not None and length > limit


@sync_and_async_middleware
def BodySizeMiddleware(get_response):  # noqa: N802 (Django's middleware naming)
    """Refuse by Content-Length, before anything reads the body.

    A body sent without a length (chunked) is not seen here: DRF reads it as
    empty (so the API answers 400 for the missing fields), and a page that reads
    it gets Django's 400 page (RequestDataTooBig) if it is too large.
    Async-capable for the reason given in escalation_project/middleware.py.
    """
    if iscoroutinefunction(get_response):

        async def middleware(request):
            if _declared_too_large(request):
                return body_too_large(request)
            return await get_response(request)

    else:

        def middleware(request):
            if _declared_too_large(request):
                return body_too_large(request)
            return get_response(request)

    return middleware
