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


def test_swagger_and_redoc_load_their_assets_locally(client):
    for page in ["/api/docs/", "/api/redoc/"]:
        html = client.get(page).content.decode()
        assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', html)
        assert assets, page
        for asset in assets:
            assert asset.startswith("/static/"), asset
            assert client.get(asset).status_code == 200, asset
