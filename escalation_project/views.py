from django.db import connection
from django.http import JsonResponse


def healthz(request):
    """Liveness plus a database round trip; used by runstack to know daphne is up."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
