"""The search page over an index store: ``omniembed serve --store PATH``, then open ``/search``.

Routes (one FastAPI ``APIRouter``, mounted into the API server or a small app of its own):

=================================  =========================================================================
``GET  /search``                   the page: a query box, a drop-a-file box, results with previews
``GET  /search/api/query?q=``      JSON hits (``type`` repeatable, ``k``, ``chunks``)
``POST /search/api/query``         the same for a dropped file (multipart field ``file``): query by media
``GET  /search/api/info``          the store's profile, size, roots and file count
``GET  /search/media/{root}/{p}``  an indexed file (HTTP Range, so players can seek to ``#t=start``)
``GET  /search/thumb/{root}/{p}``  a PNG preview: a PDF page (``?page=N``, pypdfium2) or an image
=================================  =========================================================================

Only files that are indexed and lie inside an indexed folder are ever served: the path is resolved
(``..`` and symlinks included) and must stay inside its root and be in the store's manifest.
"""

from __future__ import annotations

import contextlib
import hashlib
import mimetypes
import os
import stat
import threading
import time
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional
from urllib.parse import quote

import anyio
from fastapi import APIRouter, FastAPI, File, HTTPException, Query, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from ..errors import OmniEmbedError
from ..media.preview import thumbnail_png
from ..store import Store, file_id_for, open_store

if TYPE_CHECKING:  # for the annotation only: the page also runs without the API server (create_search_app)
    from .services import Services

__all__ = ["create_router", "create_search_app", "PREFIX"]

PREFIX = "/search"
_THUMB_WIDTH = 360
_MAX_QUERY_UPLOAD = 64 * 1024**2


def root_key(root: str) -> str:
    """The short, stable URL key of an indexed folder."""
    return hashlib.sha1(root.encode("utf-8")).hexdigest()[:12]


def _static(name: str) -> bytes:
    return (Path(__file__).resolve().parent / "static" / name).read_bytes()


@lru_cache(maxsize=256)
def _thumbnail(path: str, mtime_ns: int, page: int, width: int) -> bytes:
    """Cached per file version (``mtime_ns``); the rendering lives in :mod:`omniembed.media.preview`."""
    return thumbnail_png(path, page=page, width=width)


class _Index:
    """The store plus a short-lived cache of its manifest (which files may be served)."""

    def __init__(self, store: Store, ttl: float = 3.0):
        self.store = store
        self.ttl = ttl
        self._lock = threading.Lock()
        self._at = 0.0
        self._files: dict = {}
        self._roots: dict[str, str] = {}
        self._verified: dict[tuple, bool] = {}  # (dev, inode, size, mtime, ctime, sha256) → hash matched
        self.searcher = None

    def refresh(self) -> None:
        with self._lock:
            if time.monotonic() - self._at < self.ttl:
                return
            files = self.store.files()
            self._files = files
            self._roots = {root_key(e.root): e.root for e in files.values()}
            self._at = time.monotonic()

    def roots(self) -> dict[str, str]:
        self.refresh()
        return self._roots

    def resolve(self, key: str, rel: str):
        """The manifest entry and real path of ``rel`` under root ``key``; 404 for anything else."""
        self.refresh()
        root = self._roots.get(key)
        if root is None:
            raise HTTPException(404, "no such indexed folder")
        root_p = Path(root).resolve()
        try:
            target = (root_p / rel).resolve()
        except (OSError, ValueError):
            raise HTTPException(404, "no such indexed file") from None
        if not target.is_relative_to(root_p):
            raise HTTPException(404, "no such indexed file")  # path traversal: never leave the root
        entry = self._files.get(file_id_for(root, target.relative_to(root_p).as_posix()))
        if entry is None or not target.is_file():
            raise HTTPException(404, "no such indexed file")
        st = self.verify(entry, target)
        return entry, target, st

    def verify(self, entry, target: Path) -> os.stat_result:
        """The file must still be the one that was indexed: a regular file with the manifest's size and
        mtime and, once per inode version, its SHA-256. A file replaced since (a hard link to another
        file, a different inode, new bytes) is refused with 409 until it is indexed again."""
        try:
            st = target.stat()
        except OSError:
            raise HTTPException(404, "no such indexed file") from None
        stale = HTTPException(409, "this file changed since it was indexed; run omniembed index again to "
                                   "search and open it")
        if not stat.S_ISREG(st.st_mode) or st.st_size != entry.size or st.st_mtime_ns != entry.mtime_ns:
            raise stale
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, entry.sha256)
        with self._lock:
            known = self._verified.get(key)
        if known is None:
            from ..indexer import sha256_file

            known = sha256_file(target) == entry.sha256
            with self._lock:
                if len(self._verified) > 4096:
                    self._verified.clear()
                self._verified[key] = known
        if not known:
            raise stale
        return st


class _VerifiedFile(FileResponse):
    """A ``FileResponse`` that sends only the inode that was verified: the file it opens must have the
    device and inode number of the checked ``stat`` (a file swapped in between check and open is not
    sent; the transfer is aborted). Starlette opens files in ``_open_file``; tests check it still does."""

    def __init__(self, path: Path, st: os.stat_result, **kw):
        super().__init__(path, stat_result=st, **kw)
        self._identity = (st.st_dev, st.st_ino)

    @contextlib.asynccontextmanager
    async def _open_file(self):
        async with super()._open_file() as fh:
            st = await anyio.to_thread.run_sync(os.fstat, fh.wrapped.fileno())
            if (st.st_dev, st.st_ino) != self._identity:
                raise RuntimeError("the file was replaced while it was being served; not sending it")
            yield fh


def _hit_json(hit, prefix: str) -> dict[str, Any]:
    d = hit.to_dict()
    base = f"{prefix}/media/{root_key(hit.root)}/{quote(hit.rel_path)}"
    d["media_url"] = base
    d["name"] = Path(hit.rel_path).name
    d.pop("path", None)  # absolute paths stay on the server
    d.pop("root", None)
    if hit.modality in ("pdf", "image"):
        d["thumb_url"] = f"{prefix}/thumb/{root_key(hit.root)}/{quote(hit.rel_path)}" + (
            f"?page={hit.page}" if hit.page else ""
        )
    return d


def create_router(store: Store | str | os.PathLike[str], services: Services | None = None, *,
                  prefix: str = PREFIX, embedder=None) -> APIRouter:
    """The search page and its JSON API over ``store`` (a :class:`~omniembed.store.Store` or a store
    spec such as a LanceDB folder). With ``services`` (the API server's), queries are embedded through
    the server's batching queue; otherwise through an :class:`omniembed.Embedder` of the store's profile."""
    from ..search import Searcher

    st = store if isinstance(store, Store) else open_store(store)
    idx = _Index(st)
    router = APIRouter()

    def searcher() -> Searcher:
        if idx.searcher is None:
            idx.searcher = Searcher(st, embedder=embedder)
        return idx.searcher

    async def query_vector(part) -> Any:
        s = searcher()
        if services is None or services.profile.id != s.info.profile:
            return await run_in_threadpool(s.embed_query, part)
        from ..types import Content, EmbedRequest

        dims = None if s.info.dims == services.profile.native_dim else s.info.dims
        task = "RETRIEVAL_QUERY" if part.text is not None else "SEMANTIC_SIMILARITY"
        res = await services.embed(EmbedRequest([Content(parts=[part])], task_type=task, output_dimensionality=dims))
        return res[0].vector

    async def run(part, text: Optional[str], k: int, types: list[str], chunks: bool, mode: Optional[str] = None) -> dict:
        t0 = time.perf_counter()
        try:
            vec = None if mode == "keyword" else await query_vector(part)
            hits = await run_in_threadpool(
                lambda: searcher().search(text if text is not None else part, k=k, modalities=types,
                                          chunks=chunks, vector=vec, mode=mode)
            )
        except OmniEmbedError as exc:
            raise HTTPException(getattr(exc, "http_status", 400), str(exc)) from None
        return {"query": text, "k": k, "types": types, "took_ms": round((time.perf_counter() - t0) * 1000, 1),
                "hits": [_hit_json(h, prefix) for h in hits]}

    @router.get(prefix, include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(_static("search.html").decode("utf-8").replace("{{PREFIX}}", prefix))

    @router.get(prefix + "/static/{name}", include_in_schema=False)
    async def static(name: str) -> Response:
        if name not in ("search.js", "search.css"):
            raise HTTPException(404, "not found")
        kind = "text/javascript" if name.endswith(".js") else "text/css"
        return Response(_static(name), media_type=f"{kind}; charset=utf-8")

    @router.get(prefix + "/api/info")
    async def info() -> dict:
        s = await run_in_threadpool(searcher)
        roots = await run_in_threadpool(idx.roots)
        return {"profile": s.info.profile, "dimensions": s.info.dims, "backend": s.info.backend,
                "files": len(idx._files), "roots": [{"key": k, "name": Path(r).name} for k, r in roots.items()]}

    @router.get(prefix + "/api/query")
    async def query_get(q: str = Query(..., min_length=1, max_length=4000), k: int = Query(10, ge=1, le=100),
                        type: list[str] = Query([]), chunks: bool = False,  # noqa: A002
                        mode: Optional[str] = Query(None, pattern="^(dense|keyword|hybrid)$")) -> dict:
        from ..types import Part

        if not q.strip():
            raise HTTPException(400, "empty query")
        return await run(Part(text=q), q, k, [t for t in type if t], chunks, mode)

    @router.post(prefix + "/api/query")
    async def query_post(request: Request, file: UploadFile = File(...), k: int = Query(10, ge=1, le=100),
                         type: list[str] = Query([]), chunks: bool = False) -> dict:  # noqa: A002
        from ..types import Part

        data = await file.read(_MAX_QUERY_UPLOAD + 1)
        if len(data) > _MAX_QUERY_UPLOAD:
            raise HTTPException(413, f"a query file may be at most {_MAX_QUERY_UPLOAD // 1024**2} MiB")
        if not data:
            raise HTTPException(400, "the dropped file is empty")
        return await run(Part.from_bytes(data), None, k, [t for t in type if t], chunks)

    @router.get(prefix + "/media/{key}/{rel:path}", include_in_schema=False)
    async def media(key: str, rel: str) -> FileResponse:
        entry, target, st = await run_in_threadpool(idx.resolve, key, rel)
        mime = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        return _VerifiedFile(target, st, media_type=mime, headers={"Cache-Control": "no-cache"})

    @router.get(prefix + "/thumb/{key}/{rel:path}", include_in_schema=False)
    async def thumb(key: str, rel: str, page: int = Query(1, ge=1), w: int = Query(_THUMB_WIDTH, ge=64, le=1024)):
        entry, target, st = await run_in_threadpool(idx.resolve, key, rel)
        if entry.modality not in ("pdf", "image"):
            raise HTTPException(404, "no preview for this type")
        try:
            png = await run_in_threadpool(_thumbnail, str(target), st.st_mtime_ns, page, w)
        except Exception as exc:  # noqa: BLE001 — a broken file gets no preview, not a 500 page
            raise HTTPException(422, f"cannot render a preview: {exc}") from None
        return Response(png, media_type="image/png", headers={"Cache-Control": "max-age=300"})

    return router


def create_search_app(store: Store | str | os.PathLike[str], *, embedder=None) -> FastAPI:
    """A small app with only the search page (tests, or a search page without the embedding API)."""
    app = FastAPI(title="omniembed search", docs_url=None, redoc_url=None)
    app.include_router(create_router(store, embedder=embedder))

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse(PREFIX)

    return app


RouterFactory = Callable[[Any], APIRouter]
