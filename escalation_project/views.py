from django.db import connection
from django.db.models import Count, Q
from django.http import JsonResponse
from django.shortcuts import render
from django.views import defaults

from escalations.models import Status
from supervisors.models import Membership


def home(request):
    """The front door: what the product is, and the user's teams with their open work."""
    teams = []
    if request.user.is_authenticated:
        memberships = (
            Membership.objects.filter(user=request.user)
            .select_related("team")
            .annotate(
                open_count=Count("team__escalations", filter=Q(team__escalations__status=Status.OPEN)),
                claimed_count=Count("team__escalations", filter=Q(team__escalations__status=Status.CLAIMED)),
            )
            .order_by("team__name")
        )
        teams = [
            {
                "name": m.team.name,
                "role": m.get_role_display(),
                "open_count": m.open_count,
                "claimed_count": m.claimed_count,
            }
            for m in memberships
        ]
    return render(request, "home.html", {"teams": teams})


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
