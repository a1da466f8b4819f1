"""How the API's authenticators appear in the OpenAPI schema (imported by escalation_project.api.auth)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class AgentKeyScheme(OpenApiAuthenticationExtension):
    target_class = "escalation_project.api.auth.AgentKeyAuthentication"
    name = "agentKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An agent API key: `Authorization: Bearer ak_…` (admin or `create_agent_key`).",
        }


class UserTokenScheme(OpenApiAuthenticationExtension):
    target_class = "escalation_project.api.auth.UserTokenAuthentication"
    name = "userToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "A staff token: `Authorization: Token ut_…` (`create_user_token`).",
        }
