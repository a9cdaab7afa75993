"""The published OpenAPI document: request and response schemas for every route, and the API-key scheme.

The handlers parse JSON leniently themselves (camelCase and snake_case, Google's quirks, omniembed's
extensions), so FastAPI cannot infer schemas from their signatures. This module describes the wire
formats once, as pydantic models, and attaches them to the generated document by path and method
(:func:`install`). The schemas are what clients should send and can expect back; the parsers accept a
little more (e.g. snake_case field names), as documented in each dialect's module.
"""

from __future__ import annotations

from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

__all__ = ["install", "ROUTE_SCHEMAS"]

TaskTypeName = Literal["SEMANTIC_SIMILARITY", "CLASSIFICATION", "CLUSTERING", "RETRIEVAL_DOCUMENT",
                       "RETRIEVAL_QUERY", "CODE_RETRIEVAL_QUERY", "QUESTION_ANSWERING", "FACT_VERIFICATION"]


class _M(BaseModel):
    model_config = ConfigDict(extra="allow")


# --- Gemini ---------------------------------------------------------------------------------------
class Blob(_M):
    mimeType: Optional[str] = Field(None, description="A hint; the real type is sniffed from the bytes.")
    data: str = Field(description="Base64 (standard or URL-safe).")


class FileData(_M):
    fileUri: str = Field(description="files/ID of an uploaded file (or a path under --allow-files).")
    mimeType: Optional[str] = None


class GeminiPart(_M):
    text: Optional[str] = None
    inlineData: Optional[Blob] = None
    fileData: Optional[FileData] = None


class GeminiContent(_M):
    parts: list[GeminiPart] = Field(description="All parts of one content make ONE vector.")
    role: Optional[str] = None


class EmbedContentRequest(_M):
    model: Optional[str] = None
    content: GeminiContent
    taskType: Optional[TaskTypeName] = None
    title: Optional[str] = None
    outputDimensionality: Optional[int] = Field(None, description="Matryoshka size, 128..native.")


class BatchEmbedContentsRequest(_M):
    requests: list[EmbedContentRequest]


class ContentEmbedding(_M):
    values: list[float]


class EmbedContentResponse(_M):
    embedding: ContentEmbedding


class BatchEmbedContentsResponse(_M):
    embeddings: list[ContentEmbedding]


class GeminiErrorBody(_M):
    code: int
    message: str
    status: str = Field(description="google.rpc status, e.g. INVALID_ARGUMENT, RESOURCE_EXHAUSTED.")


class GeminiError(_M):
    error: GeminiErrorBody


# --- OpenAI ---------------------------------------------------------------------------------------
class OpenAIEmbeddingsRequest(_M):
    model: str
    input: Union[str, list[Union[str, dict[str, Any], list[Union[str, dict[str, Any]]]]]] = Field(
        description="Strings, or omniembed's multimodal items ({type: image_url|input_audio|file|media_url}); "
                    "a list inside the list is one interleaved content.")
    dimensions: Optional[int] = None
    encoding_format: Optional[Literal["float", "base64"]] = None
    user: Optional[str] = None
    task_type: Optional[TaskTypeName] = Field(None, description="omniembed extension.")


class OpenAIEmbedding(_M):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: Union[list[float], str] = Field(description="Floats, or base64 little-endian float32.")


class OpenAIUsage(_M):
    prompt_tokens: int
    total_tokens: int


class OpenAIEmbeddingsResponse(_M):
    object: Literal["list"] = "list"
    data: list[OpenAIEmbedding]
    model: str
    usage: OpenAIUsage


class OpenAIErrorBody(_M):
    message: str
    type: str
    param: Optional[str] = None
    code: Optional[str] = None


class OpenAIError(_M):
    error: OpenAIErrorBody


# --- Hugging Face TEI -------------------------------------------------------------------------------
class TEIEmbedRequest(_M):
    inputs: Union[str, list[str]]
    normalize: Optional[bool] = None
    truncate: Optional[bool] = None
    truncation_direction: Optional[Literal["left", "right", "Left", "Right"]] = None
    prompt_name: Optional[str] = Field(None, description="query | passage | document | a task type name.")
    dimensions: Optional[int] = None


class TEIError(_M):
    error: str
    error_type: str


# --- Ollama -----------------------------------------------------------------------------------------
class OllamaEmbedRequest(_M):
    model: str
    input: Union[str, list[str]]
    truncate: Optional[bool] = None
    dimensions: Optional[int] = None
    keep_alive: Optional[Union[str, int]] = None
    options: Optional[dict[str, Any]] = None
    task_type: Optional[TaskTypeName] = Field(None, description="omniembed extension.")


class OllamaEmbedResponse(_M):
    model: str
    embeddings: list[list[float]]
    total_duration: int
    load_duration: int
    prompt_eval_count: int


class OllamaEmbeddingsRequest(_M):
    model: str
    prompt: str
    task_type: Optional[TaskTypeName] = None


class OllamaEmbeddingsResponse(_M):
    embedding: list[float]


class OllamaShowRequest(_M):
    model: str


class OllamaError(_M):
    error: str


_MODELS = [Blob, FileData, GeminiPart, GeminiContent, EmbedContentRequest, BatchEmbedContentsRequest,
           ContentEmbedding, EmbedContentResponse, BatchEmbedContentsResponse, GeminiError, OpenAIEmbeddingsRequest,
           OpenAIEmbeddingsResponse, OpenAIError, TEIEmbedRequest, TEIError, OllamaEmbedRequest,
           OllamaEmbedResponse, OllamaEmbeddingsRequest, OllamaEmbeddingsResponse, OllamaShowRequest, OllamaError]


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


_OBJECT = {"type": "object", "additionalProperties": True}
_VECTORS = {"type": "array", "items": {"type": "array", "items": {"type": "number"}}}

#: (method, path) → (request schema or None, 200 response schema, response description, error schema).
ROUTE_SCHEMAS: dict[tuple[str, str], tuple[Any, Any, str, str]] = {
    ("post", "/v1beta/models/{spec}"): (
        {"oneOf": [_ref("EmbedContentRequest"), _ref("BatchEmbedContentsRequest")]},
        {"oneOf": [_ref("EmbedContentResponse"), _ref("BatchEmbedContentsResponse")]},
        "`…:embedContent` → {embedding}; `…:batchEmbedContents` → {embeddings}; "
        "`…:asyncBatchEmbedContent` → a batch operation", "GeminiError"),
    ("get", "/v1beta/models"): (None, _OBJECT, "{models: [Model]}", "GeminiError"),
    ("get", "/v1beta/models/{name}"): (None, _OBJECT, "a Model (with embeddingDimensions, inputLimits)",
                                       "GeminiError"),
    ("get", "/v1beta/batches"): (None, _OBJECT, "{operations: [batch operation]}", "GeminiError"),
    ("get", "/v1beta/batches/{job_id}"): (None, _OBJECT, "a batch operation (EmbedContentBatch metadata)",
                                          "GeminiError"),
    ("post", "/v1beta/batches/{spec}"): (None, _OBJECT, "`…:cancel` → the operation", "GeminiError"),
    ("delete", "/v1beta/batches/{job_id}"): (None, _OBJECT, "{}", "GeminiError"),
    ("post", "/upload/v1beta/files"): (None, _OBJECT, "{file: File} (or the resumable protocol's headers)",
                                       "GeminiError"),
    ("get", "/v1beta/files"): (None, _OBJECT, "{files: [File], nextPageToken}", "GeminiError"),
    ("get", "/v1beta/files/{file_id}"): (None, _OBJECT, "a File; `files/ID:download?alt=media` → its bytes",
                                         "GeminiError"),
    ("delete", "/v1beta/files/{file_id}"): (None, _OBJECT, "{}", "GeminiError"),
    ("get", "/download/v1beta/files/{spec}"): (None, {"type": "string", "format": "binary"}, "the file's bytes",
                                               "GeminiError"),
    ("post", "/v1/embeddings"): (_ref("OpenAIEmbeddingsRequest"), _ref("OpenAIEmbeddingsResponse"),
                                 "one embedding per input", "OpenAIError"),
    ("post", "/embeddings"): (_ref("OpenAIEmbeddingsRequest"), _ref("OpenAIEmbeddingsResponse"),
                              "one embedding per input", "OpenAIError"),
    ("get", "/v1/models"): (None, _OBJECT, "{object: list, data: [model]}", "OpenAIError"),
    ("get", "/v1/models/{name}"): (None, _OBJECT, "a model", "OpenAIError"),
    ("post", "/embed"): (_ref("TEIEmbedRequest"), _VECTORS, "one vector per input", "TEIError"),
    ("post", "/"): (_ref("TEIEmbedRequest"), _VECTORS, "one vector per input", "TEIError"),
    ("get", "/info"): (None, _OBJECT, "TEI model information", "TEIError"),
    ("get", "/health"): (None, None, "alive", "TEIError"),
    ("post", "/api/embed"): (_ref("OllamaEmbedRequest"), _ref("OllamaEmbedResponse"), "one vector per input",
                             "OllamaError"),
    ("post", "/api/embeddings"): (_ref("OllamaEmbeddingsRequest"), _ref("OllamaEmbeddingsResponse"),
                                  "one vector", "OllamaError"),
    ("get", "/api/tags"): (None, _OBJECT, "{models: [...]}", "OllamaError"),
    ("post", "/api/show"): (_ref("OllamaShowRequest"), _OBJECT, "model details", "OllamaError"),
    ("get", "/api/version"): (None, _OBJECT, "{version}", "OllamaError"),
}

_SECURITY_SCHEMES = {
    "ApiKeyHeader": {"type": "apiKey", "in": "header", "name": "x-goog-api-key"},
    "ApiKeyQuery": {"type": "apiKey", "in": "query", "name": "key"},
    "Bearer": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer KEY (OpenAI, TEI, Ollama)"},
}


def build(schema: dict, *, auth: bool, open_paths: tuple[str, ...]) -> dict:
    """Add the dialect schemas, error responses and the API-key scheme to FastAPI's generated document."""
    _, defs = models_json_schema([(m, "validation") for m in _MODELS], ref_template="#/components/schemas/{model}")
    components = schema.setdefault("components", {})
    components.setdefault("schemas", {}).update(defs.get("$defs", {}))
    components["securitySchemes"] = _SECURITY_SCHEMES
    if auth:
        schema["security"] = [{"ApiKeyHeader": []}, {"ApiKeyQuery": []}, {"Bearer": []}]
    for path, ops in schema.get("paths", {}).items():
        for method, op in ops.items():
            spec = ROUTE_SCHEMAS.get((method, path))
            if path in open_paths:
                op["security"] = []
            if spec is None:
                op.setdefault("responses", {}).setdefault("200", {"description": "OK"})
                continue
            request, response, description, error = spec
            if request is not None:
                op["requestBody"] = {"required": True, "content": {"application/json": {"schema": request}}}
            ok: dict[str, Any] = {"description": description}
            if response is not None:
                media = "application/octet-stream" if response.get("format") == "binary" else "application/json"
                ok["content"] = {media: {"schema": response}}
            op["responses"] = {"200": ok, "4XX": {"description": "client error (401 key, 404, 413, 429 with "
                                                                 "Retry-After…)",
                                                  "content": {"application/json": {"schema": _ref(error)}}},
                               "5XX": {"description": "server error",
                                       "content": {"application/json": {"schema": _ref(error)}}}}
    return schema


def install(app, *, auth: bool, open_paths: tuple[str, ...]) -> None:
    """Replace ``app.openapi`` with one that publishes the schemas above (computed once)."""
    generate = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = build(generate(), auth=auth, open_paths=open_paths)
        return app.openapi_schema

    app.openapi = openapi
