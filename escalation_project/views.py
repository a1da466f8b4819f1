from django.db import connection
from django.http import HttpResponsePermanentRedirect, JsonResponse
from django.templatetags.static import static
from django.views import defaults


def healthz(request):
    """Liveness plus a database round trip; used by runstack to know daphne is up."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


def not_found(request, exception):
    """Under /api/ even an unknown URL answers in the API's error shape; elsewhere Django's page."""
    if request.path.startswith("/api/"):
        return JsonResponse({"error": {"code": "not_found", "message": "Not found."}}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    if request.path.startswith("/api/"):
        return JsonResponse(
            {"error": {"code": "server_error", "message": "Something went wrong on our side."}}, status=500
        )
    return defaults.server_error(request)


def favicon(request):
    """Browsers ask for /favicon.ico on every page that names no icon (the admin, the API's):
    sent to the static file, which the static files middleware serves with its long cache."""
    return HttpResponsePermanentRedirect(static("favicon.ico"))
