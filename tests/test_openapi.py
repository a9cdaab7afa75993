"""The published OpenAPI document: every route has its schemas and the API-key scheme, and real responses
of each dialect (from a real server, on the dummy profile: the shapes are the point, not the vectors)
validate against the published response schemas."""

from __future__ import annotations

import httpx
import jsonschema
import pytest

from server_harness import ServerProcess

KEY = "openapi-key"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with ServerProcess(tmp_path_factory.mktemp("openapi"), "--api-key", KEY, dummy=True) as srv:
        yield srv


@pytest.fixture(scope="module")
def doc(server):
    r = httpx.get(f"{server.url}/openapi.json", headers={"x-goog-api-key": KEY})
    assert r.status_code == 200
    return r.json()


def _validator(doc: dict, schema: dict):
    return jsonschema.Draft202012Validator({**schema, "components": doc["components"]})


def test_every_route_has_schemas_and_the_key_scheme(doc):
    schemes = doc["components"]["securitySchemes"]
    assert schemes["ApiKeyHeader"] == {"type": "apiKey", "in": "header", "name": "x-goog-api-key"}
    assert schemes["Bearer"]["scheme"] == "bearer" and {"ApiKeyQuery": []} in doc["security"]
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert "200" in op["responses"], (method, path)
            if path in ("/docs", "/openapi.json"):
                continue
            assert "4XX" in op["responses"], (method, path)
            if method == "post" and path not in ("/upload/v1beta/files", "/v1beta/batches/{spec}"):
                assert "schema" in op["requestBody"]["content"]["application/json"], (method, path)
    for path in ("/v1beta/models/{spec}", "/v1/embeddings", "/embeddings", "/embed", "/api/embed", "/api/embeddings"):
        assert path in doc["paths"], path
    assert doc["paths"]["/health"]["get"]["security"] == []  # open, like /healthz


@pytest.mark.parametrize("path,body,auth", [
    ("/v1beta/models/omniembed-lite:embedContent", {"content": {"parts": [{"text": "hi"}]}}, "x-goog-api-key"),
    ("/v1beta/models/omniembed-lite:batchEmbedContents", {"requests": [{"content": {"parts": [{"text": "a"}]}}]},
     "x-goog-api-key"),
    ("/v1/embeddings", {"model": "omniembed-lite", "input": ["a", "b"]}, "bearer"),
    ("/embeddings", {"model": "omniembed-lite", "input": "a", "encoding_format": "base64"}, "bearer"),
    ("/embed", {"inputs": ["a", "b"]}, "bearer"),
    ("/api/embed", {"model": "omniembed-lite", "input": ["a"]}, "bearer"),
    ("/api/embeddings", {"model": "omniembed-lite", "prompt": "a"}, "bearer"),
])
def test_real_requests_and_responses_match_the_published_schemas(server, doc, path, body, auth):
    template = "/v1beta/models/{spec}" if path.startswith("/v1beta/models/") else path
    op = doc["paths"][template]["post"]
    _validator(doc, op["requestBody"]["content"]["application/json"]["schema"]).validate(body)
    headers = {"x-goog-api-key": KEY} if auth == "x-goog-api-key" else {"authorization": f"Bearer {KEY}"}
    r = httpx.post(server.url + path, json=body, headers=headers, timeout=120)
    assert r.status_code == 200, r.text
    _validator(doc, op["responses"]["200"]["content"]["application/json"]["schema"]).validate(r.json())
    bad = httpx.post(server.url + path, json=body, headers={"authorization": "Bearer wrong"}, timeout=60)
    assert bad.status_code == 401
    _validator(doc, op["responses"]["4XX"]["content"]["application/json"]["schema"]).validate(bad.json())
