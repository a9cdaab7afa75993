"""The Gemini Files API (uploads) and the server's file resolver.

Media too large to inline travel as uploaded files: a client uploads once (``POST /upload/v1beta/files``,
the resumable protocol the google-genai SDK speaks, or a plain one-shot body) and then refers to
``files/ID`` in ``fileData.fileUri``. Files live under the server's data directory, one blob each plus a
row in SQLite.

The resolver is the security boundary for ``fileData``: it reads uploaded files, and local paths only
under roots the operator allowed explicitly (``omniembed serve --allow-files DIR``). Anything else —
absolute paths, ``..`` tricks, symlinks out of a root, ``http://`` URLs — is refused with 403.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator, Sequence
from urllib.parse import unquote, urlparse

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from ..errors import InvalidInput, MediaTooLarge
from ..media.source import Limits, MediaSource
from ..types import FileData
from .errors import ApiError, FileAccessDenied

__all__ = ["FileRecord", "FileStore", "ServerFileResolver", "file_id_from_uri", "rfc3339", "upload_session_id",
           "parse_length"]

_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
_SPOOL_BYTES = 1 << 20  # an upload is written to disk in pieces of about this size (bounded memory)
_URI_ID = re.compile(r"(?:^|/)files/([a-z0-9][a-z0-9-]{0,39})$")


class FileNotFound(InvalidInput):
    http_status = 404


def upload_session_id(query_string: bytes | str) -> str | None:
    """The one ``upload_id`` a resumable upload's URL carries, parsed as a query string; else None.

    The API-key guard and the upload route both ask this function, so they cannot disagree: an empty
    value, a repeated parameter or ``?foo=upload_id=x`` is no session id (a substring test once let
    such requests create files without a key)."""
    from urllib.parse import parse_qs

    qs = query_string.decode("latin-1") if isinstance(query_string, bytes) else query_string
    values = parse_qs(qs, keep_blank_values=True).get("upload_id", [])
    if len(values) != 1 or not values[0]:
        return None
    return values[0]


def parse_length(value: str | None, header: str) -> int | None:
    """A declared byte count from a header: None when absent, else a non-negative decimal integer (400)."""
    if value is None or not value.strip():
        return None
    v = value.strip()
    if not v.isdigit() or not v.isascii() or len(v) > 19:
        raise ApiError(400, f"{header} must be a non-negative integer number of bytes, not {v[:40]!r}")
    return int(v)


def rfc3339(t: float | None) -> str | None:
    if t is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int((t % 1) * 1e6):06d}Z"


def file_id_from_uri(uri: str) -> str | None:
    """``files/abc``, ``http://host/v1beta/files/abc`` → ``abc``; anything else → None."""
    path = urlparse(uri).path if "://" in uri else uri
    m = _URI_ID.search(path.rstrip("/"))
    return m.group(1) if m else None


@dataclass
class FileRecord:
    id: str
    display_name: str | None
    mime_type: str
    size: int
    sha256: str  # hex
    created: float
    state: str = "ACTIVE"

    def resource(self, base_url: str) -> dict:
        """The Gemini ``File`` resource (camelCase; int64 as strings, like Google's JSON)."""
        out = {
            "name": f"files/{self.id}",
            "mimeType": self.mime_type,
            "sizeBytes": str(self.size),
            "createTime": rfc3339(self.created),
            "updateTime": rfc3339(self.created),
            "sha256Hash": base64.b64encode(bytes.fromhex(self.sha256)).decode(),
            "uri": f"{base_url.rstrip('/')}/v1beta/files/{self.id}",
            "state": self.state,
            "source": "UPLOADED",
        }
        if self.display_name:
            out["displayName"] = self.display_name
        return out


class FileStore:
    """Uploaded files: blobs in ``root/blobs``, metadata and upload sessions in ``root/files.sqlite3``."""

    def __init__(self, root: Path, *, max_bytes: int, limits: Limits | None = None):
        self.root = Path(root)
        self.blobs = self.root / "blobs"
        self.partial = self.root / "partial"
        self.blobs.mkdir(parents=True, exist_ok=True)
        self.partial.mkdir(parents=True, exist_ok=True)
        self.max_bytes = int(max_bytes)
        self.limits = limits or Limits()
        self._db = self.root / "files.sqlite3"
        self._lock = threading.Lock()
        self._receiving: set[str] = set()
        with self._conn() as c:
            c.execute(
                "CREATE TABLE IF NOT EXISTS files (id TEXT PRIMARY KEY, display_name TEXT, mime TEXT, size INTEGER,"
                " sha256 TEXT, created REAL, state TEXT)"
            )
            c.execute(
                "CREATE TABLE IF NOT EXISTS uploads (id TEXT PRIMARY KEY, file_id TEXT, display_name TEXT, mime TEXT,"
                " size INTEGER, created REAL)"
            )

    def _conn(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._db, timeout=30, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        return conn

    # --- uploads --------------------------------------------------------------------------------
    def start_upload(self, *, size: int | None, mime: str | None, display_name: str | None,
                     name: str | None = None) -> str:
        """Open a resumable upload session; returns its id."""
        if size is not None and size < 0:
            raise ApiError(400, f"a declared upload size must not be negative ({size})")
        if size is not None and size > self.max_bytes:
            raise MediaTooLarge(f"the file is {size:,} bytes; this server accepts uploads up to {self.max_bytes:,}")
        file_id = self._new_id(name)
        upload_id = secrets.token_urlsafe(18)
        with self._conn() as c:
            c.execute(
                "INSERT INTO uploads VALUES (?,?,?,?,?,?)", (upload_id, file_id, display_name, mime, size, time.time())
            )
        (self.partial / upload_id).write_bytes(b"")
        return upload_id

    def upload_offset(self, upload_id: str) -> int:
        self._session(upload_id)
        return (self.partial / upload_id).stat().st_size

    def has_session(self, upload_id: str) -> bool:
        """Whether ``upload_id`` names an open resumable session (the guard lets only those in keyless)."""
        try:
            self._session(upload_id)
        except ApiError:
            return False
        return True

    @contextlib.contextmanager
    def receiving(self, upload_id: str, offset: int, declared: int | None = None) -> Iterator[tuple[BinaryIO, int]]:
        """Append one chunk at ``offset`` (the bytes received so far): yields ``(file, room)``, where
        ``room`` is how many bytes the session may still take (its declared size, and the server limit).

        The caller streams the chunk into ``file`` and raises when it would exceed ``room``. On any error
        the partial file is cut back to ``offset``, so the client can retry the chunk; one chunk per
        session at a time (a second concurrent one gets 409)."""
        sess = self._session(upload_id)
        part = self.partial / upload_id
        with self._lock:
            if upload_id in self._receiving:
                raise ApiError(409, "another chunk of this upload is being received; send chunks one at a time")
            have = part.stat().st_size
            if offset != have:
                raise ApiError(400, f"upload offset {offset} does not match the {have} bytes received so far")
            cap = self.max_bytes if sess["size"] is None else min(self.max_bytes, sess["size"])
            room = cap - have
            if declared is not None and declared > room:
                raise MediaTooLarge(f"this chunk is {declared:,} bytes but the upload may take only {room:,} more "
                                    f"(declared size {sess['size']}, server limit {self.max_bytes:,} bytes)")
            self._receiving.add(upload_id)
        try:
            with open(part, "r+b") as fh:
                fh.seek(have)
                try:
                    yield fh, room
                except BaseException:
                    fh.truncate(have)
                    raise
        finally:
            with self._lock:
                self._receiving.discard(upload_id)

    def new_tmp(self) -> Path:
        """A fresh temporary path under the store (for streaming a one-shot upload to disk)."""
        return self.partial / f"tmp-{secrets.token_hex(8)}"

    def finalize(self, upload_id: str) -> FileRecord:
        """Check the bytes are something omniembed can embed (or JSONL for batch jobs) and publish them."""
        sess = self._session(upload_id)
        part = self.partial / upload_id
        size = part.stat().st_size
        if sess["size"] is not None and size != sess["size"]:
            raise ApiError(400, f"upload finalized after {size} of {sess['size']} declared bytes")
        try:
            src = MediaSource.from_path(part, None, self.limits)
        except InvalidInput:
            part.unlink(missing_ok=True)
            self._drop_session(upload_id)
            raise
        rec = self._publish(part, sess["file_id"], sess["display_name"], sess["mime"] or src.mime)
        self._drop_session(upload_id)
        return rec

    def create(self, data: bytes, *, mime: str, display_name: str | None = None, validate: bool = True,
               name: str | None = None) -> FileRecord:
        """One-shot upload from bytes in memory (batch-job output files; HTTP uploads use :meth:`adopt`)."""
        if len(data) > self.max_bytes:
            raise MediaTooLarge(f"the file is {len(data):,} bytes; this server accepts up to {self.max_bytes:,}")
        tmp = self.new_tmp()
        tmp.write_bytes(data)
        return self.adopt(tmp, mime=mime, display_name=display_name, validate=validate, name=name)

    def adopt(self, tmp: Path, *, mime: str, display_name: str | None = None, validate: bool = True,
              name: str | None = None) -> FileRecord:
        """Publish a file already written under :meth:`new_tmp` (deleted if it is refused)."""
        try:
            if tmp.stat().st_size > self.max_bytes:
                raise MediaTooLarge(f"the file is {tmp.stat().st_size:,} bytes; this server accepts up to "
                                    f"{self.max_bytes:,}")
            if validate:
                src = MediaSource.from_path(tmp, None, self.limits)
                mime = mime or src.mime
            return self._publish(tmp, self._new_id(name), display_name, mime)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    # --- resources ------------------------------------------------------------------------------
    def get(self, file_id: str) -> FileRecord | None:
        with self._conn() as c:
            row = c.execute(
                "SELECT id, display_name, mime, size, sha256, created, state FROM files WHERE id=?", (file_id,)
            ).fetchone()
        return FileRecord(*row) if row else None

    def list(self, page_size: int = 100, page_token: str | None = None) -> tuple[list[FileRecord], str | None]:
        page_size = max(1, min(int(page_size or 100), 1000))
        after = float(page_token) if page_token else float("inf")
        with self._conn() as c:
            rows = c.execute(
                "SELECT id, display_name, mime, size, sha256, created, state FROM files WHERE created < ?"
                " ORDER BY created DESC LIMIT ?",
                (after, page_size + 1),
            ).fetchall()
        recs = [FileRecord(*r) for r in rows[:page_size]]
        nxt = repr(recs[-1].created) if len(rows) > page_size else None
        return recs, nxt

    def delete(self, file_id: str) -> bool:
        with self._conn() as c:
            n = c.execute("DELETE FROM files WHERE id=?", (file_id,)).rowcount
        (self.blobs / file_id).unlink(missing_ok=True)
        return n > 0

    def path_of(self, file_id: str) -> Path:
        return self.blobs / file_id

    # --- internals ------------------------------------------------------------------------------
    def _new_id(self, name: str | None) -> str:
        if name:
            fid = name[len("files/"):] if name.startswith("files/") else name
            if not _ID.match(fid):
                raise InvalidInput(f"invalid file name {name!r}: use 1-40 lowercase letters, digits or dashes")
            if self.get(fid) is not None:
                raise ApiError(409, f"files/{fid} already exists")
            return fid
        return secrets.token_hex(6)

    def _session(self, upload_id: str) -> dict:
        with self._conn() as c:
            row = c.execute("SELECT file_id, display_name, mime, size FROM uploads WHERE id=?", (upload_id,)).fetchone()
        if not row:
            raise ApiError(404, "unknown or finished upload session")
        return {"file_id": row[0], "display_name": row[1], "mime": row[2], "size": row[3]}

    def _drop_session(self, upload_id: str) -> None:
        with self._conn() as c:
            c.execute("DELETE FROM uploads WHERE id=?", (upload_id,))

    def _publish(self, tmp: Path, file_id: str, display_name: str | None, mime: str) -> FileRecord:
        h = hashlib.sha256()
        with open(tmp, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        size = tmp.stat().st_size
        os.replace(tmp, self.blobs / file_id)
        rec = FileRecord(file_id, display_name, mime, size, h.hexdigest(), time.time())
        with self._conn() as c:
            c.execute(
                "INSERT INTO files VALUES (?,?,?,?,?,?,?)",
                (rec.id, rec.display_name, rec.mime_type, rec.size, rec.sha256, rec.created, rec.state),
            )
        return rec


class ServerFileResolver:
    """The engine's ``FileResolver`` on the server: uploaded files, or paths under allowed roots only."""

    def __init__(self, files: FileStore, allowed_roots: Sequence[Path] = ()):
        self.files = files
        self.roots = [Path(r).expanduser().resolve() for r in allowed_roots]

    def __call__(self, ref: FileData, limits: Limits) -> MediaSource:
        uri = (ref.file_uri or "").strip()
        fid = file_id_from_uri(uri)
        if fid is not None:
            rec = self.files.get(fid)
            if rec is None:
                raise FileNotFound(f"files/{fid} does not exist (upload it first, or it was deleted)")
            src = MediaSource.from_path(self.files.path_of(fid), ref.mime_type, limits)
            src.name = rec.display_name or f"files/{fid}"
            return src
        if not self.roots:
            raise FileAccessDenied(
                f"fileData.fileUri {uri[:200]!r} is not an uploaded file; this server reads only uploaded "
                "files (files/ID). An operator can allow local folders with --allow-files DIR."
            )
        if uri.startswith("file://"):
            path = Path(unquote(urlparse(uri).path))
        elif "://" in uri:
            raise FileAccessDenied(f"cannot read {uri[:200]!r}: the server never fetches URLs")
        else:
            path = Path(uri)
        if not path.is_absolute():
            path = self.roots[0] / path
        real = path.resolve()
        for root in self.roots:
            if real == root or real.is_relative_to(root):
                return MediaSource.from_path(real, ref.mime_type, limits)
        raise FileAccessDenied(f"{uri[:200]!r} is outside the folders this server may read")


# --- routes ----------------------------------------------------------------------------------------
def create_router(services) -> APIRouter:
    """``/upload/v1beta/files`` (resumable protocol and one-shot), ``/v1beta/files[/ID]``, downloads."""
    r = APIRouter()
    store: FileStore = services.files

    def base(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    async def read_limited(request: Request, limit: int) -> bytes:
        buf = bytearray()
        async for chunk in request.stream():
            buf += chunk
            if len(buf) > limit:
                raise MediaTooLarge(f"upload exceeds the server limit of {limit:,} bytes")
        return bytes(buf)

    async def spool(request: Request, fh: BinaryIO, room: int, what: str) -> int:
        """Stream the body into ``fh`` holding at most ~1 MiB in memory; 413 past ``room`` bytes."""
        buf = bytearray()
        total = 0
        async for chunk in request.stream():
            total += len(chunk)
            if total > room:
                raise MediaTooLarge(f"{what} exceeds {room:,} bytes (the declared size or the server limit of "
                                    f"{store.max_bytes:,} bytes)")
            buf += chunk
            if len(buf) >= _SPOOL_BYTES:
                await run_in_threadpool(fh.write, bytes(buf))
                buf.clear()
        if buf:
            await run_in_threadpool(fh.write, bytes(buf))
        return total

    @r.post("/upload/v1beta/files")
    async def upload(request: Request) -> Response:
        h, q = request.headers, request.query_params
        if "upload_id" in q:
            upload_id = upload_session_id(request.scope.get("query_string", b""))
            if upload_id is None:
                raise ApiError(400, "a resumable upload URL carries exactly one non-empty upload_id")
            cmds = {c.strip() for c in h.get("x-goog-upload-command", "upload, finalize").lower().split(",")}
            if "query" in cmds:
                got = store.upload_offset(upload_id)
                return Response(headers={"x-goog-upload-status": "active", "x-goog-upload-size-received": str(got)})
            offset = parse_length(h.get("x-goog-upload-offset"), "X-Goog-Upload-Offset")
            if offset is None:
                offset = store.upload_offset(upload_id)
            if "upload" in cmds:
                declared = parse_length(h.get("content-length"), "Content-Length")
                with store.receiving(upload_id, offset, declared) as (fh, room):
                    await spool(request, fh, room, "the upload")
            if "finalize" in cmds:
                rec = await run_in_threadpool(store.finalize, upload_id)
                return JSONResponse({"file": rec.resource(base(request))}, headers={"x-goog-upload-status": "final"})
            return Response(headers={"x-goog-upload-status": "active"})
        protocol = h.get("x-goog-upload-protocol", "").lower()
        if protocol == "resumable":
            meta = {}
            raw = await read_limited(request, 1 << 20)
            if raw.strip():
                try:
                    meta = json.loads(raw)
                except (ValueError, RecursionError):
                    raise ApiError(400, "malformed JSON in the upload start request") from None
            f = meta.get("file") if isinstance(meta, dict) and isinstance(meta.get("file"), dict) else {}
            size = parse_length(h.get("x-goog-upload-header-content-length"), "X-Goog-Upload-Header-Content-Length")
            mime = h.get("x-goog-upload-header-content-type") or f.get("mimeType") or f.get("mime_type")
            upload_id = await run_in_threadpool(
                lambda: store.start_upload(size=size, mime=mime, display_name=f.get("displayName")
                                           or f.get("display_name"), name=f.get("name"))
            )
            url = f"{base(request)}/upload/v1beta/files?upload_id={upload_id}"
            return JSONResponse({}, headers={"x-goog-upload-url": url, "x-goog-upload-status": "active"})
        if protocol and protocol not in ("raw",):
            raise ApiError(400, f"upload protocol {protocol!r} is not supported; use resumable or a raw body")
        declared = parse_length(h.get("content-length"), "Content-Length")
        if declared is not None and declared > store.max_bytes:
            raise MediaTooLarge(f"the upload is {declared:,} bytes; this server accepts uploads up to "
                                f"{store.max_bytes:,}")
        tmp = store.new_tmp()
        try:
            with open(tmp, "wb") as fh:
                size = await spool(request, fh, store.max_bytes, "the upload")
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        if not size:
            tmp.unlink(missing_ok=True)
            raise ApiError(400, "empty upload")
        ctype = h.get("content-type", "").split(";")[0].strip() or None
        if ctype in ("application/octet-stream", "application/x-www-form-urlencoded"):
            ctype = None
        rec = await run_in_threadpool(
            lambda: store.adopt(tmp, mime=ctype or "", display_name=q.get("display_name") or q.get("displayName"))
        )
        return JSONResponse({"file": rec.resource(base(request))})

    @r.get("/v1beta/files")
    async def list_files(request: Request) -> dict:
        q = request.query_params
        recs, nxt = store.list(int(q.get("pageSize") or q.get("page_size") or 100), q.get("pageToken"))
        out: dict = {"files": [x.resource(base(request)) for x in recs]}
        if nxt:
            out["nextPageToken"] = nxt
        return out

    @r.get("/v1beta/files/{file_id}")
    async def get_file(file_id: str, request: Request) -> dict:
        rec = store.get(file_id)
        if rec is None:
            raise ApiError(404, f"files/{file_id} does not exist")
        return rec.resource(base(request))

    @r.delete("/v1beta/files/{file_id}")
    async def delete_file(file_id: str) -> dict:
        if not store.delete(file_id):
            raise ApiError(404, f"files/{file_id} does not exist")
        return {}

    @r.get("/download/v1beta/files/{spec}")
    async def download(spec: str) -> Response:
        file_id = spec.split(":", 1)[0]
        rec = store.get(file_id)
        if rec is None:
            raise ApiError(404, f"files/{file_id} does not exist")
        return FileResponse(store.path_of(file_id), media_type=rec.mime_type)

    return r
