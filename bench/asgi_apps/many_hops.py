"""The ASGI application with Django's own request path, for bench/serve_hops.py's side-by-side.

In a folder of its own: `make bench` runs every bench/*.py as a script, and this is not one.

Everything as escalation_project.asgi serves it (the pooled request threads, the
same middleware and routing) except the one hop: each middleware half, the view
and the signals cross from the event loop to the request's thread on their own,
as before escalation_project/asgi_handler.py's PooledThreadASGIHandler.handle.
"""

from django.core.handlers.asgi import ASGIHandler

import escalation_project.asgi as asgi
from escalation_project.asgi_handler import PooledThreadASGIHandler


class ManyHopsASGIHandler(PooledThreadASGIHandler):
    handle = ASGIHandler.handle


# http_app looks the handler up by this name on each request.
asgi.django_asgi_app = ManyHopsASGIHandler()
application = asgi.application
