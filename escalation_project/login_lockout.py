"""The page a person sees when django-axes refuses a login (settings.AXES_LOCKOUT_CALLABLE).

Axes's own page gives the cool-off as an ISO 8601 duration ("PT15M"); this one says
it in minutes, names the username, and links back to the login page they came from.
It answers 429 with Retry-After: the seconds until the lockout ends.
"""

import math

from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_cool_off, get_failure_limit
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

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
    response = render(request, "registration/locked_out.html", context, status=LOCKED_OUT_STATUS)
    seconds = seconds_until_unlocked(request, credentials)
    if seconds is not None:
        response["Retry-After"] = str(seconds)
    return response


def seconds_until_unlocked(request: HttpRequest, credentials: dict | None) -> int | None:
    """When the login may be tried again: the latest moment one of its locks (username, address) ends.

    A lock ends when enough of its failures have aged past the cool-off that fewer than the
    limit remain. Without the database handler's rows to read, the whole cool-off.
    """
    cool_off = get_cool_off(request)
    if cool_off is None:
        return None  # locked until an admin lifts it: no time to promise
    handler = AxesProxyHandler.get_implementation()
    if not hasattr(handler, "get_user_attempts"):
        return math.ceil(cool_off.total_seconds())
    limit = get_failure_limit(request, credentials)
    now = getattr(request, "axes_attempt_time", None) or timezone.now()
    ends = []
    for attempts in handler.get_user_attempts(request, credentials):
        counted = 0
        # Newest first: the lock holds until the row that brings the count to the limit ages out.
        for attempt_time, failures in attempts.order_by("-attempt_time").values_list(
            "attempt_time", "failures_since_start"
        ):
            counted += failures
            if counted >= limit:
                ends.append(attempt_time + cool_off)
                break
    if not ends:
        return math.ceil(cool_off.total_seconds())
    # At least 1: never "retry in 0 s" to someone still refused.
    return max(math.ceil((max(ends) - now).total_seconds()), 1)
