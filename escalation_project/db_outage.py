"""The database down (PostgreSQL restarting or failing over, no pool connection within
DATABASE_POOL_TIMEOUT, SQLite still locked after its retries) is answered 503 with
Retry-After, not 500: the request was fine, and the same request will work shortly.

The API answers in its one error shape; console and admin pages get a plain page
that needs nothing from the database (no template context, no user, no session).
Nothing is half-written: the failed request's transaction was rolled back.

A middleware's process_exception, because under ASGI Django turns an exception
into the 500 handler's response on another thread, where it can no longer be
told apart. It sees what views and template rendering raise, which is where
requests touch the database.
"""

from __future__ import annotations

import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.deprecation import MiddlewareMixin

logger = logging.getLogger(__name__)

# PostgreSQL's fast restart is back within seconds; the pool reconnects on its own.
RETRY_AFTER_SECONDS = 5

MESSAGE = "The database is unavailable for a moment; nothing was saved. Try again in a few seconds."

PAGE = f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Unavailable for a moment</title></head>
<body>
  <h1>Unavailable for a moment</h1>
  <p>{MESSAGE}</p>
  <p><a href="">Reload</a></p>
</body>
</html>
"""


def is_database_outage(exception: BaseException) -> bool:
    # OperationalError: the server went away mid-query, refused the connection, or the
    # pool timed out (psycopg_pool.PoolTimeout, which Django wraps as OperationalError);
    # InterfaceError: a connection already closed under us. Errors in our SQL are
    # ProgrammingError/IntegrityError/DataError and stay 500s.
    return isinstance(exception, OperationalError | InterfaceError)


def database_outage_response(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        from escalation_project.api.errors import error_body

        response: HttpResponse = JsonResponse(error_body("database_unavailable", MESSAGE), status=503)
    else:
        response = HttpResponse(PAGE, status=503, content_type="text/html; charset=utf-8")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class DatabaseOutageMiddleware(MiddlewareMixin):
    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_database_outage(exception):
            return None
        logger.warning("Database unavailable for %s %s: %s", request.method, request.path, exception)
        return database_outage_response(request)
