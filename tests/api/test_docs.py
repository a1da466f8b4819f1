"""The OpenAPI schema and its docs pages, with every asset served by us (no CDN)."""

import re

from rest_framework.test import APIClient


def test_the_schema_describes_every_endpoint(db):
    response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert {
        "/api/v1/escalations/",
        "/api/v1/escalations/{id}/",
        "/api/v1/escalations/{id}/claim/",
        "/api/v1/escalations/{id}/withdraw/",
        "/api/v1/events/",
        "/api/v1/conversations/",
        "/api/v1/conversations/{id}/messages/",
    } <= set(schema["paths"])
    assert {"agentKey", "userToken"} <= set(schema["components"]["securitySchemes"])


def test_swagger_ui_loads_its_assets_locally(client):
    html = client.get("/api/docs/").content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css|png|ico))"', html)
    assert assets
    for asset in assets:
        assert asset.startswith("/static/"), asset
        assert client.get(asset).status_code == 200, asset


def test_redoc_links_land_on_swagger_ui(client):
    """Redoc's bundle asked Google for fonts at run time (refused by the CSP): Swagger UI only."""
    response = client.get("/api/redoc/")
    assert (response.status_code, response["Location"]) == (301, "/api/docs/")


def test_the_favicon_is_served_where_browsers_ask_for_it(client, db):
    response = client.get("/favicon.ico", follow=True)
    assert response.status_code == 200
    assert response.redirect_chain == [("/static/favicon.ico", 301)]
    assert b"".join(response.streaming_content)[:4] == b"\x00\x00\x01\x00"  # an ICO file's header
    assert '<link rel="icon" href="/static/favicon.ico">' in client.get("/").content.decode()


def _schema() -> dict:
    return APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()


def test_every_operation_documents_its_errors_in_the_one_error_shape(db):
    paths = _schema()["paths"]
    claim = paths["/api/v1/escalations/{id}/claim/"]["post"]["responses"]
    assert set(claim) == {"200", "400", "401", "403", "404", "409", "415", "429"}
    assert claim["409"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    create = paths["/api/v1/escalations/"]["post"]["responses"]
    assert {"201", "200", "409", "422"} <= set(create)
    # A read of one object without input cannot be refused as invalid.
    assert "400" not in paths["/api/v1/agents/{agent_id}/"]["get"]["responses"]


def test_creates_document_201_and_the_event_feed_its_page(db):
    schema = _schema()
    for path in ["/api/v1/agents/", "/api/v1/agents/{agent_id}/rules/", "/api/v1/teams/{team_id}/labels/"]:
        assert "201" in schema["paths"][path]["post"]["responses"], path
    events = schema["paths"]["/api/v1/events/"]["get"]["responses"]["200"]
    assert events["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/EventPage"}
    page = schema["components"]["schemas"]["EventPage"]["properties"]
    assert set(page) == {"results", "next_after", "has_more"}


def test_required_text_in_a_request_is_documented_as_not_blank(db):
    escalate = _schema()["components"]["schemas"]["EscalateRequest"]["properties"]
    assert escalate["reason"]["minLength"] == 1
    assert _schema()["paths"]["/api/v1/escalations/"]["post"]["requestBody"]["content"].keys() == {
        "application/json"
    }


def test_the_long_poll_wait_and_rule_test_messages_are_documented_as_the_api_checks_them(db, settings):
    schema = _schema()
    [wait] = [
        p for p in schema["paths"]["/api/v1/escalations/{id}/"]["get"]["parameters"] if p["name"] == "wait"
    ]
    assert wait["schema"] == {"type": "integer", "minimum": 0, "maximum": settings.API_LONG_POLL_MAX_SECONDS}
    messages = schema["components"]["schemas"]["RuleTestRequest"]["properties"]["messages"]
    assert (messages["type"], messages["minItems"], messages["items"]["required"]) == (
        "array",
        1,
        ["role", "content"],
    )
