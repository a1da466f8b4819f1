from rest_framework.permissions import BasePermission

from escalation_project.api.auth import calling_agent


class IsAgent(BasePermission):
    """Called with an agent API key."""

    message = "Only an agent's API key can do this."

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated) and calling_agent(request) is not None


class IsPerson(BasePermission):
    """Called by a person: a staff token or a console session."""

    message = "Only a supervisor (a user token or a console session) can do this."

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated) and calling_agent(request) is None
