"""The page a person sees when django-axes refuses a login (settings.AXES_LOCKOUT_CALLABLE).

Axes's own page gives the cool-off as an ISO 8601 duration ("PT15M"); this one says
it in minutes, names the username, and links back to the login page they came from.
"""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

# 429, as for an API client over its rate: the request was fine, there were too many.
LOCKED_OUT_STATUS = 429


def locked_out(request: HttpRequest, original_response: HttpResponse | None, credentials: dict | None):
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    in_admin = request.path.startswith(reverse("admin:index"))
    context = {
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "username": username,
        "minutes": settings.LOGIN_LOCKOUT_MINUTES,
        "login_url": reverse("admin:login" if in_admin else "console:login"),
    }
    return render(request, "registration/locked_out.html", context, status=LOCKED_OUT_STATUS)
