"""HTTP errors in the two dialects' shapes.

Everything a handler raises ends up here: an :class:`ApiError` (raised by the server layer itself) or an
:class:`omniembed.errors.OmniEmbedError` (raised by the engine; its ``http_status`` picks the code).
The dialect is chosen by the path (:func:`dialect_of`): ``/v1/…`` and ``/embeddings`` answer in
OpenAI's shape, Hugging Face TEI's routes (``/embed``, ``/info``, ``POST /``) and Ollama's (``/api/…``) in
theirs, everything else in Gemini's.

Gemini: ``{"error": {"code": 400, "message": "…", "status": "INVALID_ARGUMENT"}}``
OpenAI: ``{"error": {"message": "…", "type": "invalid_request_error", "param": null, "code": null}}``
TEI:    ``{"error": "…", "error_type": "Validation"}``
Ollama: ``{"error": "…"}``
"""

from __future__ import annotations

from typing import Any

from ..errors import FileAccessDenied, OmniEmbedError

__all__ = [
    "ApiError",
    "FileAccessDenied",
    "GEMINI_STATUS",
    "to_api_error",
    "gemini_body",
    "openai_body",
    "is_openai_path",
    "dialect_of",
    "error_body",
]

#: HTTP code → google.rpc status name (what Google's API and the google-genai SDK report).
GEMINI_STATUS: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "UNIMPLEMENTED",
    408: "DEADLINE_EXCEEDED",
    409: "FAILED_PRECONDITION",
    413: "INVALID_ARGUMENT",  # google.rpc has no "too large"; Google answers INVALID_ARGUMENT
    415: "INVALID_ARGUMENT",
    422: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

_OPENAI_TYPE: dict[int, str] = {
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    429: "rate_limit_error",
}


class ApiError(Exception):
    """An error the server answers with; ``code`` is an optional machine-readable reason (OpenAI ``code``)."""

    def __init__(self, http_status: int, message: str, *, code: str | None = None, param: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.http_status = int(http_status)
        self.message = message
        self.code = code
        self.param = param
        self.headers = headers or {}


def to_api_error(exc: BaseException) -> ApiError:
    """Any exception → ApiError. Unknown exceptions become a 500 without internals in the message."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, OmniEmbedError):
        return ApiError(exc.http_status, str(exc) or type(exc).__name__)
    if isinstance(exc, (ValueError, TypeError)) and not isinstance(exc, OmniEmbedError):
        # Bad input that slipped through as a plain ValueError from a decoder is still the caller's.
        return ApiError(400, f"invalid input: {exc}")
    return ApiError(500, f"internal error ({type(exc).__name__}); see the server log")


def gemini_body(err: ApiError) -> dict[str, Any]:
    return {
        "error": {
            "code": err.http_status,
            "message": err.message,
            "status": GEMINI_STATUS.get(err.http_status, "UNKNOWN" if err.http_status < 500 else "INTERNAL"),
        }
    }


def openai_body(err: ApiError) -> dict[str, Any]:
    s = err.http_status
    etype = _OPENAI_TYPE.get(s, "server_error" if s >= 500 else "invalid_request_error")
    code = err.code
    if code is None:
        code = {401: "invalid_api_key", 413: "request_too_large", 429: "rate_limit_exceeded",
                504: "timeout"}.get(s)
    return {"error": {"message": err.message, "type": etype, "param": err.param, "code": code}}


def is_openai_path(path: str) -> bool:
    return path == "/v1" or path.startswith("/v1/") or path == "/embeddings"


#: Paths of Hugging Face text-embeddings-inference (``POST /`` is its Inference-API route).
TEI_PATHS = ("/embed", "/info", "/")


def dialect_of(path: str, method: str = "POST") -> str:
    """``openai``, ``tei``, ``ollama``, ``gemini`` or ``other``: whose wire format a path speaks."""
    if is_openai_path(path):
        return "openai"
    if path.startswith("/api/"):
        return "ollama"
    if path in TEI_PATHS and (path != "/" or method == "POST"):
        return "tei"
    if path.startswith(("/v1beta", "/upload", "/download")):
        return "gemini"
    return "other"


_TEI_TYPE = {413: "Validation", 422: "Validation", 400: "Validation", 415: "Validation", 429: "Overloaded",
             401: "Unauthorized", 404: "Validation"}


def tei_body(err: ApiError) -> dict[str, Any]:
    return {"error": err.message, "error_type": _TEI_TYPE.get(err.http_status, "Backend")}


def ollama_body(err: ApiError) -> dict[str, Any]:
    return {"error": err.message}


def error_body(err: ApiError, path: str, method: str = "POST") -> dict[str, Any]:
    """The error JSON in the dialect of ``path`` (Gemini's for everything not claimed by another)."""
    return {"openai": openai_body, "tei": tei_body, "ollama": ollama_body}.get(
        dialect_of(path, method), gemini_body)(err)
