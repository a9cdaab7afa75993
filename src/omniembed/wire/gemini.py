"""Gemini's embedding JSON, both directions, as plain functions: the one codec of the Gemini wire format.

Three callers once each wrote their own copy (issue 12): the server's Gemini dialect parsed requests,
``Client`` parsed google-genai dicts again (without ``fileData``), and the adapters' server mode rendered
requests and mapped error codes back to exceptions with a hand-copied table that had drifted (422 meant
``DecodeError`` although only ``WorkerFailed`` sends it; 501 was missing). Now:

* **server** (``omniembed.server.gemini``): :func:`request_from_json`, :func:`batch_from_json` →
  :class:`~omniembed.types.EmbedRequest`; :func:`embed_response_to_json`, :func:`error_to_json` back;
* **Client** (``omniembed.client``): :func:`content_from_json` for dict contents;
* **adapters** (``omniembed.integrations._backend``): :func:`request_to_json`,
  :func:`batch_values_from_json`, :func:`error_from_json`.

Accepted exactly as Google's API and the real clients send it: camelCase and snake_case field names (the
google-genai SDK dumps parts with pydantic names: ``inline_data``/``mime_type``), standard and URL-safe
base64 with or without padding (whitespace tolerated; raw ``bytes`` too, as google-genai objects hold
them), ``taskType``/``title``/``outputDimensionality`` at the top of a request or inside
``embedContentConfig`` (Vertex style), ``requests[].model`` missing or equal to the URL's model. All
parts of one content make ONE vector. Written camelCase with standard, padded base64.

Errors while parsing are the library's typed errors (:class:`~omniembed.errors.InvalidInput` 400,
:class:`~omniembed.errors.MediaTooLarge` 413); the server renders them by their ``http_status``. The
status ⇄ exception map (:data:`STATUS_ERRORS`) is DERIVED from the classes in ``omniembed.errors``:
for each HTTP status, the most general class that introduces it. Adding an error class with a new
status updates both directions.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any, Sequence

import numpy as np

from .. import errors as _errors
from ..errors import InvalidInput, MediaTooLarge, OmniEmbedError
from ..types import Blob, Content, EmbeddingResult, EmbedRequest, FileData, Part, TaskType

__all__ = [
    "RequestBudget", "decode_base64", "pick",
    "part_from_json", "part_to_json", "content_from_json", "content_to_json",
    "options_from_json", "check_model", "request_from_json", "request_to_json", "batch_from_json",
    "batch_to_json", "embedding_to_json", "embed_response_to_json", "batch_response_to_json",
    "batch_values_from_json",
    "GEMINI_STATUS", "STATUS_ERRORS", "error_class", "error_to_json", "error_from_json",
]

_URLSAFE = str.maketrans("-_", "+/")
_WS = re.compile(r"\s+")


class RequestBudget:
    """Limits of one message: total parts, decoded inline bytes per part (the engine's ``Limits`` apply
    again per part when the bytes are opened). The server makes one per HTTP request."""

    def __init__(self, max_parts: int, max_inline_bytes: int):
        self.max_parts = max_parts
        self.max_inline_bytes = max_inline_bytes
        self.parts = 0

    def count_parts(self, n: int) -> None:
        self.parts += n
        if self.parts > self.max_parts:
            raise InvalidInput(f"more than {self.max_parts:,} parts in one request; split it (or use a batch job)")


def _unbounded() -> RequestBudget:
    """No part limit, the library's inline limit (in-process callers: the engine checks sizes anyway)."""
    from ..media.source import Limits

    return RequestBudget(1 << 62, Limits().max_inline_bytes)


def pick(obj: dict, *names: str) -> Any:
    """The first of ``names`` (Gemini spells fields camelCase or snake_case) that is set in ``obj``."""
    for n in names:
        v = obj.get(n)
        if v is not None:
            return v
    return None


def decode_base64(data: Any, where: str, max_bytes: int) -> bytes:
    """Standard or URL-safe base64, padded or not, whitespace tolerated; size checked before decoding.
    ``bytes`` pass as they are (google-genai objects hold decoded bytes)."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        if len(data) > max_bytes:
            raise MediaTooLarge(f"{where}: {len(data):,} bytes inline; the limit is {max_bytes:,}")
        return bytes(data)
    if not isinstance(data, str):
        raise InvalidInput(f"{where}: data must be a base64 string")
    if len(data) // 4 * 3 > max_bytes + 3:
        raise MediaTooLarge(f"{where}: about {len(data) // 4 * 3:,} bytes inline; the limit is {max_bytes:,}")
    s = data
    if any(c.isspace() for c in s[:128]) or any(c.isspace() for c in s[-128:]) or "\n" in s:
        s = _WS.sub("", s)
    s = s.translate(_URLSAFE)
    pad = (-len(s)) % 4
    if pad == 3:
        raise InvalidInput(f"{where}: data is not valid base64 (bad length)")
    try:
        return base64.b64decode(s + "=" * pad, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"{where}: data is not valid base64") from None


# --- contents ----------------------------------------------------------------------------------------
def part_from_json(obj: Any, where: str, budget: RequestBudget | None = None) -> Part:
    """A Gemini ``Part`` (``text`` | ``inlineData`` | ``fileData``; a bare string is text) → :class:`Part`."""
    budget = budget or _unbounded()
    if isinstance(obj, str):
        return Part(text=obj)
    if not isinstance(obj, dict):
        raise InvalidInput(f"{where}: a part must be an object with text, inlineData or fileData")
    text = obj.get("text")
    inline = pick(obj, "inlineData", "inline_data")
    fdata = pick(obj, "fileData", "file_data")
    given = [k for k, v in (("text", text), ("inlineData", inline), ("fileData", fdata)) if v is not None]
    if len(given) != 1:
        if not given:
            other = ", ".join(sorted(str(k) for k, v in obj.items() if v is not None)) or "nothing"
            raise InvalidInput(f"{where}: a part needs text, inlineData or fileData (got {other})")
        raise InvalidInput(f"{where}: a part holds exactly one of text, inlineData, fileData (got {', '.join(given)})")
    if text is not None:
        if not isinstance(text, str):
            raise InvalidInput(f"{where}.text must be a string")
        return Part(text=text)
    if inline is not None:
        if not isinstance(inline, dict):
            raise InvalidInput(f"{where}.inlineData must be an object")
        mime = pick(inline, "mimeType", "mime_type")
        data = decode_base64(inline.get("data"), f"{where}.inlineData", budget.max_inline_bytes)
        return Part(inline_data=Blob(data=data, mime_type=mime if isinstance(mime, str) else None))
    if not isinstance(fdata, dict):
        raise InvalidInput(f"{where}.fileData must be an object")
    uri = pick(fdata, "fileUri", "file_uri")
    if not isinstance(uri, str) or not uri:
        raise InvalidInput(f"{where}.fileData.fileUri is required")
    mime = pick(fdata, "mimeType", "mime_type")
    return Part(file_data=FileData(file_uri=uri, mime_type=mime if isinstance(mime, str) else None))


def part_to_json(part: Part) -> dict[str, Any]:
    """:class:`Part` → Gemini JSON (camelCase, standard base64). A declared MIME type is only a hint (the
    server sniffs the bytes), so inline data without one is sent as ``application/octet-stream``."""
    if part.text is not None:
        return {"text": part.text}
    if part.inline_data is not None:
        blob = part.inline_data
        return {"inlineData": {"data": base64.b64encode(blob.data).decode("ascii"),
                               "mimeType": blob.mime_type or "application/octet-stream"}}
    assert part.file_data is not None
    ref: dict[str, Any] = {"fileUri": part.file_data.file_uri}
    if part.file_data.mime_type:
        ref["mimeType"] = part.file_data.mime_type
    return {"fileData": ref}


def content_from_json(obj: Any, where: str = "content", budget: RequestBudget | None = None) -> Content:
    """A Gemini ``Content`` (``{"parts": [...], "role"?}``; a bare string is one text part) → :class:`Content`."""
    budget = budget or _unbounded()
    if isinstance(obj, str):  # lenient: a bare string is one text part
        budget.count_parts(1)
        return Content(parts=[Part(text=obj)])
    if not isinstance(obj, dict):
        raise InvalidInput(f"{where} must be an object with parts")
    parts = obj.get("parts")
    if not isinstance(parts, list) or not parts:
        raise InvalidInput(f"{where}.parts must be a non-empty list")
    budget.count_parts(len(parts))
    return Content(parts=[part_from_json(p, f"{where}.parts[{i}]", budget) for i, p in enumerate(parts)],
                   role=obj.get("role") if isinstance(obj.get("role"), str) else None)


def content_to_json(content: Content) -> dict[str, Any]:
    """:class:`Content` → ``{"parts": [...]}`` (plus ``role`` when set)."""
    out: dict[str, Any] = {"parts": [part_to_json(p) for p in content.parts]}
    if content.role:
        out["role"] = content.role
    return out


# --- requests ----------------------------------------------------------------------------------------
def options_from_json(obj: dict) -> tuple[TaskType, int | None, str | None]:
    """(task type, output size, title) from a request, top level or ``embedContentConfig``."""
    nested = pick(obj, "embedContentConfig", "embed_content_config", "config")
    src = {**obj, **nested} if isinstance(nested, dict) else obj
    task = TaskType.parse(pick(src, "taskType", "task_type"))
    dims = pick(src, "outputDimensionality", "output_dimensionality")
    if isinstance(dims, str) and dims.strip().isdigit():
        dims = int(dims)
    elif isinstance(dims, float) and dims.is_integer():
        dims = int(dims)
    if dims is not None and (isinstance(dims, bool) or not isinstance(dims, int)):
        raise InvalidInput(f"outputDimensionality must be an integer, not {dims!r}")
    title = src.get("title")
    if title is not None and not isinstance(title, str):
        raise InvalidInput("title must be a string")
    return task, dims, title or None


def check_model(name: Any, url_model: str, where: str) -> None:
    """A request's own ``model`` may be missing or equal to the URL's (with or without ``models/``)."""
    if name is None:
        return
    if not isinstance(name, str):
        raise InvalidInput(f"{where}.model must be a string")
    if name.removeprefix("models/") != url_model.removeprefix("models/"):
        raise InvalidInput(f"{where}.model {name!r} differs from the model in the URL ({url_model!r})")


def request_from_json(obj: Any, where: str = "request", budget: RequestBudget | None = None) -> EmbedRequest:
    """One ``EmbedContentRequest`` object → :class:`EmbedRequest` (one content)."""
    if not isinstance(obj, dict):
        raise InvalidInput(f"{where} must be an object")
    content = obj.get("content")
    if content is None:
        raise InvalidInput(f"{where}.content is required")
    task, dims, title = options_from_json(obj)
    return EmbedRequest([content_from_json(content, f"{where}.content", budget or _unbounded())], task_type=task,
                        output_dimensionality=dims, title=title)


def request_to_json(content: Content, *, model: str | None = None, task_type: str | TaskType | None = None,
                    output_dimensionality: int | None = None, title: str | None = None) -> dict[str, Any]:
    """One content and its options → an ``EmbedContentRequest`` object."""
    req: dict[str, Any] = {}
    if model is not None:
        req["model"] = model if model.startswith("models/") else f"models/{model}"
    req["content"] = content_to_json(content)
    if task_type is not None:
        req["taskType"] = TaskType.parse(task_type).value
    if output_dimensionality is not None:
        req["outputDimensionality"] = int(output_dimensionality)
    if title is not None:
        req["title"] = title
    return req


def batch_from_json(body: Any, url_model: str, budget: RequestBudget | None = None) -> list[EmbedRequest]:
    """A ``batchEmbedContents`` body → one :class:`EmbedRequest` per request, in order."""
    budget = budget or _unbounded()
    if not isinstance(body, dict) or not isinstance(body.get("requests"), list) or not body["requests"]:
        raise InvalidInput("requests must be a non-empty list")
    reqs = body["requests"]
    if len(reqs) > budget.max_parts:
        raise InvalidInput(f"{len(reqs):,} requests in one call; the limit is {budget.max_parts:,}")
    out = []
    for i, r in enumerate(reqs):
        if isinstance(r, dict):
            check_model(r.get("model"), url_model, f"requests[{i}]")
        out.append(request_from_json(r, f"requests[{i}]", budget))
    return out


def batch_to_json(request: EmbedRequest, model: str) -> dict[str, Any]:
    """An :class:`EmbedRequest` → a ``batchEmbedContents`` body: one request (one vector) per content."""
    return {"requests": [request_to_json(c, model=model, task_type=request.task_type,
                                         output_dimensionality=request.output_dimensionality, title=request.title)
                         for c in request.contents]}


# --- responses ---------------------------------------------------------------------------------------
def embedding_to_json(vector: np.ndarray | Sequence[float]) -> dict[str, Any]:
    """A vector → ``{"values": [...]}`` (a ``ContentEmbedding``)."""
    return {"values": np.asarray(vector, dtype=np.float32).tolist()}


def embed_response_to_json(result: EmbeddingResult) -> dict[str, Any]:
    """``embedContent``'s answer."""
    return {"embedding": embedding_to_json(result.vector)}


def batch_response_to_json(results: Sequence[EmbeddingResult]) -> dict[str, Any]:
    """``batchEmbedContents``'s answer: one embedding per request, in order."""
    return {"embeddings": [embedding_to_json(r.vector) for r in results]}


def batch_values_from_json(body: Any) -> list[list[float]]:
    """A ``batchEmbedContents`` answer → its vectors. Raises :class:`ValueError` on any other shape."""
    try:
        rows = [e["values"] for e in body["embeddings"]]
    except (KeyError, TypeError) as exc:
        raise ValueError(f"not a batchEmbedContents response ({type(exc).__name__}: {exc})") from None
    if not all(isinstance(r, list) for r in rows):
        raise ValueError("not a batchEmbedContents response (values must be lists)")
    return rows


# --- errors ------------------------------------------------------------------------------------------
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


def _derive_status_errors() -> dict[int, type[OmniEmbedError]]:
    """For each ``http_status`` used in ``omniembed.errors``, the most general class that introduces it
    (its nearest omniembed base has another status): 400 → InvalidInput, not its subclass DecodeError;
    413 → MediaTooLarge, not CostLimitExceeded. Ties go to the class listed first in ``__all__``."""
    out: dict[int, type[OmniEmbedError]] = {}
    for name in _errors.__all__:
        cls = getattr(_errors, name, None)
        if not (isinstance(cls, type) and issubclass(cls, OmniEmbedError)):
            continue
        base = next((b for b in cls.__bases__ if issubclass(b, OmniEmbedError)), None)
        if base is None or base.http_status != cls.http_status:
            out.setdefault(int(cls.http_status), cls)
    return out


#: HTTP status → the exception class a client raises for it (derived, see :func:`_derive_status_errors`).
STATUS_ERRORS: dict[int, type[OmniEmbedError]] = _derive_status_errors()


def error_class(status: int) -> type[OmniEmbedError]:
    """The typed exception for an HTTP status; :class:`OmniEmbedError` for codes no class claims
    (401, 429, 503…)."""
    return STATUS_ERRORS.get(int(status), OmniEmbedError)


def error_to_json(status: int, message: str) -> dict[str, Any]:
    """``{"error": {"code", "message", "status"}}``, Google's shape."""
    status = int(status)
    return {"error": {"code": status, "message": message,
                      "status": GEMINI_STATUS.get(status, "UNKNOWN" if status < 500 else "INTERNAL")}}


def error_from_json(status: int, body: Any, *, text: str = "", origin: str = "omniembed server") -> OmniEmbedError:
    """An error answer (``body``: the parsed JSON, or None when it was not JSON; ``text``: the raw body) →
    the typed exception for its HTTP status. The instance's ``http_status`` is the code received, so the
    error renders back unchanged (:func:`error_to_json`)."""
    err = body.get("error") if isinstance(body, dict) else None
    err = err if isinstance(err, dict) else {}
    message = str(err.get("message") or text)
    rpc = str(err.get("status") or "")
    cls = error_class(status)
    exc = cls(f"{origin}: {int(status)}{f' {rpc}' if rpc else ''}: {message}")
    if cls.http_status != int(status):
        exc.http_status = int(status)
    return exc
