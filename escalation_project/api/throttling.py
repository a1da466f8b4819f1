"""Rate limits per credential: each agent key, and each staff user, has its own budget.

Rates come from settings.API_THROTTLE_RATES (env API_RATE_AGENT_KEY,
API_RATE_USER) and are read on each request, so tests and deployments can
change them without reloading DRF's class attributes. Counters live in the
default cache (Redis in production, so every daphne process shares them).
"""

from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from agents.models import AgentApiKey


class CredentialRateThrottle(SimpleRateThrottle):
    scope = "api"

    def get_rate(self) -> str | None:  # DRF calls this from __init__
        return None

    def allow_request(self, request, view) -> bool:
        if isinstance(request.auth, AgentApiKey):
            self.scope, ident = "agent_key", f"key-{request.auth.pk}"
        elif request.user and request.user.is_authenticated:
            self.scope, ident = "user", f"user-{request.user.pk}"
        else:
            self.scope, ident = "anonymous", f"ip-{self.get_ident(request)}"
        rate = settings.API_THROTTLE_RATES.get(self.scope)
        if not rate:
            return True
        self.rate = rate
        self.num_requests, self.duration = self.parse_rate(rate)
        self.key = self.cache_format % {"scope": self.scope, "ident": ident}
        self.history = self.cache.get(self.key, [])
        self.now = self.timer()
        while self.history and self.history[-1] <= self.now - self.duration:
            self.history.pop()
        if len(self.history) >= self.num_requests:
            return self.throttle_failure()
        return self.throttle_success()
