"""Where the framework adapters get their vectors: the in-process engine or an omniembed server.

Every adapter (LangChain, LlamaIndex, Haystack, Chroma) is a thin translator from its framework's
interface to one call here, so the two modes behave the same:

* **in-process** (default): an :class:`omniembed.Embedder` in this Python process. Pass one you already
  have (models load once per process and are shared) or let the adapter make one for a profile.
* **server URL**: ``base_url="http://host:8000"`` talks to ``omniembed serve`` over the Gemini dialect
  (``POST /v1beta/models/{model}:batchEmbedContents``) with httpx. Local files are sent inline (the
  server cannot read this machine's disk); ``files/…`` references are passed through. The server's
  typed errors come back as the same omniembed exceptions the library raises. One connection pool is
  kept per backend (per event loop, for the async calls), and a busy or starting server (429, 503) or a
  dropped connection is retried, waiting what the server's ``Retry-After`` says (tenacity), up to
  ``max_retries`` times.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any, Protocol, Sequence

import numpy as np

from ..errors import InvalidInput, MissingDependency, OmniEmbedError
from ..types import Content, ContentLike, Part, TaskType
from ..wire import gemini as codec

__all__ = ["Backend", "LocalBackend", "RemoteBackend", "make_backend", "require", "image_part", "matryoshka"]

#: The model name clients use on the wire for the default profile.
DEFAULT_MODEL = "omniembed-lite"
#: Gemini's limit of requests in one ``batchEmbedContents`` call; the adapters split longer lists.
REMOTE_BATCH = 100
#: Status codes that mean "come back later": the queue is full (429), the server is starting or
#: draining (503). Everything else is an answer.
RETRY_STATUS = frozenset({429, 503})
#: Longest single wait, whatever ``Retry-After`` says (a caller's request should not hang for hours).
MAX_RETRY_WAIT_S = 120.0


def require(module: str, extra: str, what: str) -> Any:
    """Import an optional framework or raise :class:`MissingDependency` naming the pip extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependency(
            f"{what} needs the {module.split('.')[0]!r} package: pip install 'omniembed[{extra}]'"
        ) from exc


class Backend(Protocol):
    """What an adapter needs: embed a list of contents for a task type, sync or async."""

    @property
    def model(self) -> str:
        """The profile id (in-process) or model name (server) the vectors belong to."""

    def embed(
        self,
        items: Sequence[ContentLike],
        *,
        task_type: str | TaskType,
        output_dimensionality: int | None = None,
        title: str | None = None,
    ) -> np.ndarray: ...

    async def aembed(
        self,
        items: Sequence[ContentLike],
        *,
        task_type: str | TaskType,
        output_dimensionality: int | None = None,
        title: str | None = None,
    ) -> np.ndarray: ...

    def config(self) -> dict[str, Any]:
        """JSON-serialisable settings that rebuild this backend (framework serialisation)."""

    def profile_info(self) -> tuple[str, int]:
        """(profile id, native dimensions) of the vectors: what a vector store must record."""


class LocalBackend:
    """The in-process engine. The :class:`Embedder` is created on first use unless one is given."""

    def __init__(self, embedder: Any = None, profile: str = "lite"):
        self._embedder = embedder
        self._profile = profile

    @property
    def embedder(self):
        if self._embedder is None:
            from ..embedder import Embedder

            self._embedder = Embedder(self._profile)
        return self._embedder

    @property
    def model(self) -> str:
        if self._embedder is not None:
            return self._embedder.profile.id
        from ..space import get_profile

        return get_profile(self._profile).id

    def embed(
        self,
        items: Sequence[ContentLike],
        *,
        task_type: str | TaskType,
        output_dimensionality: int | None = None,
        title: str | None = None,
    ) -> np.ndarray:
        if not items:
            return np.zeros((0, output_dimensionality or 0), dtype=np.float32)
        return self.embedder.embed(
            list(items), task_type=task_type, output_dimensionality=output_dimensionality, title=title
        )

    async def aembed(
        self,
        items: Sequence[ContentLike],
        *,
        task_type: str | TaskType,
        output_dimensionality: int | None = None,
        title: str | None = None,
    ) -> np.ndarray:
        # The engine is synchronous, CPU-bound and thread-safe: run it off the event loop.
        return await asyncio.to_thread(
            self.embed, items, task_type=task_type, output_dimensionality=output_dimensionality, title=title
        )

    def config(self) -> dict[str, Any]:
        return {"profile": self.model}

    def profile_info(self) -> tuple[str, int]:
        if self._embedder is not None:
            return self._embedder.profile.id, self._embedder.dimensions
        from ..space import get_profile

        p = get_profile(self._profile)
        return p.id, p.native_dim


class RemoteBackend:
    """An omniembed server (or anything speaking Gemini's ``batchEmbedContents``) at ``base_url``."""

    def __init__(
        self,
        base_url: str,
        model: str = DEFAULT_MODEL,
        *,
        api_key: str | None = None,
        timeout: float = 300.0,
        batch_size: int = REMOTE_BATCH,
        max_retries: int = 6,
    ):
        require("httpx", "server", "an omniembed server URL")
        require("tenacity", "server", "an omniembed server URL")
        self.base_url = base_url.rstrip("/")
        self._model = model[len("models/") :] if model.startswith("models/") else model
        self.api_key = api_key if api_key is not None else os.environ.get("OMNIEMBED_API_KEY")
        self.timeout = timeout
        self.batch_size = max(1, int(batch_size))
        self.max_retries = max(0, int(max_retries))
        self._client = None  # one httpx.Client (one connection pool) for every sync call
        self._aclients: dict[int, Any] = {}  # id(event loop) → its httpx.AsyncClient (pools are per loop)
        self.retries = 0  # how many times a request was retried (for tests and logs)

    @property
    def model(self) -> str:
        return self._model

    @property
    def url(self) -> str:
        return f"{self.base_url}/v1beta/models/{self._model}:batchEmbedContents"

    def _headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self.api_key} if self.api_key else {}

    def _bodies(
        self,
        items: Sequence[ContentLike],
        task_type: str | TaskType,
        output_dimensionality: int | None,
        title: str | None,
    ) -> list[dict]:
        from ..embedder import to_content

        task = TaskType.parse(task_type)
        requests = [codec.request_to_json(sendable(to_content(item, f"input[{i}]")), model=self._model,
                                          task_type=task, output_dimensionality=output_dimensionality, title=title)
                    for i, item in enumerate(items)]
        return [
            {"requests": requests[i : i + self.batch_size]} for i in range(0, len(requests), self.batch_size)
        ]

    def _parse(self, response: Any) -> list[list[float]]:
        if response.status_code != 200:
            raise remote_error(response)
        try:
            return codec.batch_values_from_json(response.json())
        except ValueError as exc:
            raise OmniEmbedError(f"{self.url}: not a batchEmbedContents response: {response.text[:200]}") from exc

    @staticmethod
    def _matrix(rows: list[list[float]], n: int) -> np.ndarray:
        if len(rows) != n:
            raise OmniEmbedError(f"the server returned {len(rows)} vectors for {n} inputs")
        return np.asarray(rows, dtype=np.float32).reshape(n, -1)

    @property
    def client(self):
        """The one sync ``httpx.Client`` of this backend (created on first use)."""
        import httpx

        if self._client is None:
            self._client = httpx.Client(timeout=self.timeout)
        return self._client

    def _aclient(self):
        """The ``httpx.AsyncClient`` of the running event loop: reused by every call on that loop (an
        AsyncClient's connections belong to the loop that opened them, so each loop gets its own)."""
        import httpx

        loop = asyncio.get_running_loop()
        entry = self._aclients.get(id(loop))
        if entry is None or entry[0]() is not loop:
            import weakref

            for key in [k for k, (ref, _) in self._aclients.items() if ref() is None or ref().is_closed()]:
                del self._aclients[key]  # clients of finished loops: their sockets are gone with the loop
            entry = (weakref.ref(loop), httpx.AsyncClient(timeout=self.timeout))
            self._aclients[id(loop)] = entry
        return entry[1]

    def _retrying(self, is_async: bool):
        """tenacity's policy: retry 429/503 and connection errors, waiting ``Retry-After`` when the server
        sends it (omniembed computes it from its queue depth and measured throughput), else exponential
        backoff with jitter."""
        import httpx
        import tenacity

        def should_retry(state: tenacity.RetryCallState) -> bool:
            if state.outcome.failed:
                return isinstance(state.outcome.exception(), httpx.TransportError)
            return state.outcome.result().status_code in RETRY_STATUS

        backoff = tenacity.wait_exponential_jitter(initial=0.5, max=30.0, jitter=1.0)

        def wait(state: tenacity.RetryCallState) -> float:
            # Retry-After is the earliest worth trying; the growing, jittered backoff keeps callers that
            # were refused together from all coming back in the same second (measured: 8 threads on a
            # queue of 4 — with Retry-After alone, one caller still failed after 7 attempts).
            after = None
            if not state.outcome.failed:
                after = retry_after_seconds(state.outcome.result().headers.get("retry-after"))
            return min(max(after or 0.0, backoff(state)), MAX_RETRY_WAIT_S)

        def count(state: tenacity.RetryCallState) -> None:
            self.retries += 1

        cls = tenacity.AsyncRetrying if is_async else tenacity.Retrying
        return cls(stop=tenacity.stop_after_attempt(self.max_retries + 1), retry=should_retry, wait=wait,
                   before_sleep=count,
                   # out of attempts: hand back the last 429/503 (it becomes a typed error) or re-raise
                   retry_error_callback=lambda state: state.outcome.result())

    def _post(self, body: dict):
        import httpx

        try:
            return self._retrying(False)(self.client.post, self.url, json=body, headers=self._headers())
        except httpx.HTTPError as exc:
            raise OmniEmbedError(f"cannot reach the omniembed server at {self.base_url}: {exc}") from exc

    async def _apost(self, client, body: dict):
        import httpx

        try:
            return await self._retrying(True)(client.post, self.url, json=body, headers=self._headers())
        except httpx.HTTPError as exc:
            raise OmniEmbedError(f"cannot reach the omniembed server at {self.base_url}: {exc}") from exc

    def embed(
        self,
        items: Sequence[ContentLike],
        *,
        task_type: str | TaskType,
        output_dimensionality: int | None = None,
        title: str | None = None,
    ) -> np.ndarray:
        if not items:
            return np.zeros((0, output_dimensionality or 0), dtype=np.float32)
        rows: list[list[float]] = []
        for body in self._bodies(items, task_type, output_dimensionality, title):
            rows.extend(self._parse(self._post(body)))
        return self._matrix(rows, len(items))

    async def aembed(
        self,
        items: Sequence[ContentLike],
        *,
        task_type: str | TaskType,
        output_dimensionality: int | None = None,
        title: str | None = None,
    ) -> np.ndarray:
        if not items:
            return np.zeros((0, output_dimensionality or 0), dtype=np.float32)
        bodies = self._bodies(items, task_type, output_dimensionality, title)
        client = self._aclient()
        responses = await asyncio.gather(*(self._apost(client, b) for b in bodies))
        rows = [row for r in responses for row in self._parse(r)]
        return self._matrix(rows, len(items))

    def config(self) -> dict[str, Any]:
        # The API key is deliberately left out: configs end up in files and databases.
        return {"base_url": self.base_url, "model": self._model}

    def profile_info(self) -> tuple[str, int]:
        """Asks ``GET /v1beta/models/{model}`` (omniembed adds ``profile`` and ``embeddingDimensions``);
        a server that does not say is probed with one embedding."""
        import httpx

        if getattr(self, "_info", None) is None:
            info = None
            try:
                r = self.client.get(f"{self.base_url}/v1beta/models/{self._model}", headers=self._headers(), timeout=30)
                body = r.json() if r.status_code == 200 else {}
                if body.get("profile") and (body.get("embeddingDimensions") or {}).get("default"):
                    info = (str(body["profile"]), int(body["embeddingDimensions"]["default"]))
            except (httpx.HTTPError, ValueError):
                pass
            if info is None:
                info = (self._model, int(self.embed(["dimension probe"], task_type="RETRIEVAL_DOCUMENT").shape[1]))
            self._info = info
        return self._info

    def close(self) -> None:
        """Close the sync pool (async pools close with their event loop)."""
        if self._client is not None:
            self._client.close()
            self._client = None
        self._aclients.clear()


def retry_after_seconds(value: str | None) -> float | None:
    """An HTTP ``Retry-After`` value — delta seconds or an HTTP date — as seconds to wait (≥ 0)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        import datetime as _dt

        when = parsedate_to_datetime(value)
        return max(0.0, (when - _dt.datetime.now(when.tzinfo or _dt.timezone.utc)).total_seconds())
    except (TypeError, ValueError):
        return None


def remote_error(response: Any) -> OmniEmbedError:
    """A server error response (Gemini shape ``{"error": {code, message, status}}``) → the typed exception
    the library raises for that status (the codec's map, derived from ``omniembed.errors``)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    return codec.error_from_json(response.status_code, body, text=response.text)


def sendable(content: Content) -> Content:
    """The content as a server can take it: a local file (a path or ``file://`` URI) is read and sent
    inline, since the server cannot read this machine's disk; ``files/…`` and URLs the server may resolve
    stay references."""
    parts = []
    for part in content.parts:
        ref = part.file_data
        if ref is None or ref.file_uri.startswith(_SERVER_REFS):
            parts.append(part)
            continue
        path = Path(ref.file_uri[len("file://") :] if ref.file_uri.startswith("file://") else ref.file_uri)
        if not path.expanduser().is_file():
            raise InvalidInput(f"no such file: {path}")
        parts.append(Part.from_bytes(path.expanduser().read_bytes(), ref.mime_type))
    return Content(parts=parts, role=content.role)


#: fileUri prefixes that name files on the server side, not on this machine.
_SERVER_REFS = ("files/", "http://", "https://", "gs://")


def image_part(image: Any) -> Part:
    """An image as frameworks hand it over — a numpy array (H×W, H×W×3/4), a PIL image, bytes or a
    path — → a :class:`Part`. Arrays and PIL images are encoded as lossless PNG."""
    if isinstance(image, Part):
        return image
    if isinstance(image, (str, os.PathLike)):
        return Part.from_file(Path(image))
    if isinstance(image, (bytes, bytearray, memoryview)):
        return Part.from_bytes(bytes(image))
    import io

    from PIL import Image

    if isinstance(image, np.ndarray):
        arr = image
        if arr.dtype != np.uint8:
            if np.issubdtype(arr.dtype, np.floating) and arr.size and float(np.nanmax(arr)) <= 1.0:
                arr = arr * 255.0
            arr = np.clip(np.nan_to_num(arr), 0, 255).astype(np.uint8)
        if arr.ndim == 3 and arr.shape[2] == 1:
            arr = arr[:, :, 0]
        if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
            raise InvalidInput(f"an image array must be H×W, H×W×3 or H×W×4, not shape {image.shape}")
        image = Image.fromarray(arr)
    if isinstance(image, Image.Image):
        buf = io.BytesIO()
        image.save(buf, format="PNG")
        return Part.from_bytes(buf.getvalue(), "image/png")
    if hasattr(image, "read"):  # a file-like object (BytesIO)
        return Part.from_bytes(image.read())
    raise InvalidInput(f"cannot read an image from a {type(image).__name__}")


def matryoshka(vectors: np.ndarray, dims: int) -> np.ndarray:
    """The first ``dims`` coordinates of omniembed vectors, renormalised: the smaller Matryoshka size
    of the same vectors (omniembed's space is ordered by variance, so a prefix keeps the most)."""
    from ..space import normalize

    return normalize(np.asarray(vectors, dtype=np.float32)[:, :dims])


def make_backend(
    embedder: Any = None,
    *,
    base_url: str | None = None,
    model: str | None = None,
    api_key: str | None = None,
    profile: str = "lite",
    timeout: float = 300.0,
    max_retries: int = 6,
) -> Backend:
    """Pick the mode: a server when ``base_url`` is given, else the in-process engine."""
    if base_url and embedder is not None:
        raise InvalidInput("pass either an Embedder (in-process) or base_url (server), not both")
    if base_url:
        return RemoteBackend(base_url, model or DEFAULT_MODEL, api_key=api_key, timeout=timeout,
                             max_retries=max_retries)
    return LocalBackend(embedder, profile=model or profile)

