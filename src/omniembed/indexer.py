"""Index a folder of mixed media into a vector store, incrementally and safely.

``omniembed index DIR`` walks ``DIR`` (text, Markdown, PDF, images, audio, video), embeds each file with
the detailed call and stores one *file* vector plus one *chunk* vector per piece (text chunk, PDF page,
OCR'd image, audio or video window) with page numbers, start/end seconds and the snippet.

Incremental: a file whose size and mtime match the store is not even read; one whose bytes hash to the
stored SHA-256 is skipped; a changed file is re-embedded and its old records replaced; a file gone from
disk is removed from the store.

Batched: files are looked at :data:`INDEX_BATCH` at a time — hashed, embedded in one engine call per
modality (small files share encoder calls), written in one store call (:meth:`Store.replace_files`).

Safe: a file's records are written with its file record (the manifest entry) last — LanceDB writes a
whole batch in one atomic commit — so a run killed at any moment resumes with no duplicates: a
half-written file has no manifest entry and is simply embedded again, and chunk records left by a crash
are pruned. One indexer at a time holds a lock on a local store. A file that cannot be read or decoded
is reported and skipped.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from .errors import InvalidInput, OmniEmbedError
from .modalities import modality_of_suffix
from .store.base import Record, Store, file_id_for

__all__ = ["Indexer", "IndexReport", "FileOutcome", "walk", "index_folder", "write_result", "file_records"]

#: Files looked at together: hashed, embedded in one engine call per modality (many small text files
#: then share each encoder call, short recordings Whisper windows: ``media/audio.py``) and written in
#: ONE store commit. Also how much work a Ctrl-C may lose (bench/bench_index.py, issue 15).
INDEX_BATCH = 32
_FILE_TEXT_CHARS = 1000  # how much of a file's content its file record keeps as a snippet
@dataclass
class FileOutcome:
    """What happened to one file in a run."""

    path: str  # relative to the root
    status: str  # new | changed | unchanged | removed | failed | skipped (not a regular file)
    modality: str = ""
    size: int = 0
    seconds: float = 0.0
    chunks: int = 0
    reason: str = ""


@dataclass
class IndexReport:
    """The summary of one index run."""

    root: str
    store: str
    outcomes: list[FileOutcome] = field(default_factory=list)
    ignored: int = 0  # files with suffixes the indexer does not handle
    seconds: float = 0.0
    interrupted: bool = False
    pruned: int = 0
    worker_retries: int = 0  # files sent to another Ray worker after theirs died (distributed.py)

    def _n(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def new(self) -> int:
        return self._n("new")

    @property
    def changed(self) -> int:
        return self._n("changed")

    @property
    def unchanged(self) -> int:
        return self._n("unchanged")

    @property
    def removed(self) -> int:
        return self._n("removed")

    @property
    def failed(self) -> list[FileOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    @property
    def skipped(self) -> list[FileOutcome]:
        """Symlinks out of the folder or to nothing, FIFOs, sockets, devices: left out, with the reason."""
        return [o for o in self.outcomes if o.status == "skipped"]

    @property
    def indexed(self) -> int:
        return self.new + self.changed

    def by_modality(self) -> dict[str, dict[str, float]]:
        """Per modality: files embedded, bytes and embedding seconds (for throughput numbers)."""
        out: dict[str, dict[str, float]] = {}
        for o in self.outcomes:
            if o.status in ("new", "changed"):
                d = out.setdefault(o.modality, {"files": 0, "bytes": 0, "seconds": 0.0})
                d["files"] += 1
                d["bytes"] += o.size
                d["seconds"] += o.seconds
        return out


@dataclass(frozen=True, slots=True)
class Found:
    """One regular file :func:`walk` found: where it is, its POSIX path relative to the folder, the
    size and modification time the manifest compares, and the modality its suffix suggests (None: not
    a file the indexer picks up)."""

    root: Path
    rel: str
    size: int
    mtime_ns: int
    modality: str | None

    @property
    def path(self) -> Path:
        return self.root / self.rel


def walk(root: Path, *, skip: tuple[Path, ...] = (), include_hidden: bool = False,
         on_skip: Callable[[Path, str], None] | None = None) -> Iterator[Found]:
    """Yield the regular files under ``root`` in a stable (sorted, depth-first) order.

    Hidden files and folders (a leading dot) are skipped unless ``include_hidden``; so are the ``skip``
    folders (e.g. a store kept inside the folder). Symlinks to files are followed only when they stay
    inside ``root``. Everything else left out — symlinks leading outside or nowhere, symlinked folders,
    FIFOs, sockets, devices — is passed to ``on_skip(path, reason)`` so the report can say so.

    Why ``os.scandir`` and strings, not ``pathlib``: a re-index with nothing changed is this walk and a
    size/mtime comparison per file. With ``os.walk`` + ``Path`` (each file stat-ed three times, its
    relative path computed twice) 50,000 files took 6 s of the 30 s profiled at load 5; a directory
    entry's type comes free with the listing and one ``stat`` per file is all the manifest needs."""
    root_r = root.resolve()
    skip_r = {str(s.resolve()) for s in skip}
    report = on_skip or (lambda p, why: None)
    root_s = str(root_r)
    modality_of: dict[str, str | None] = {}  # suffix → modality, for this walk (the table may change between runs)

    def visit(dir_s: str, prefix: str) -> Iterator[Found]:
        try:
            with os.scandir(dir_s) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            return  # an unreadable folder is passed over, as os.walk does
        dirs = []
        for e in entries:
            if not include_hidden and e.name.startswith("."):
                continue
            try:
                is_dir = e.is_dir()  # follows a symlink, as os.walk sorts entries
            except OSError:
                is_dir = False
            if is_dir:
                dirs.append(e)
                continue
            rel = prefix + e.name
            try:
                if e.is_symlink():
                    why = _outside(Path(e.path), root_r)
                    if why:
                        report(Path(e.path), why)
                        continue
                    st = os.stat(e.path)
                else:
                    st = e.stat(follow_symlinks=False)
            except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop on older Pythons
                report(Path(e.path), f"cannot read: {getattr(exc, 'strerror', None) or exc}")
                continue
            why = _not_regular(st.st_mode)
            if why:
                report(Path(e.path), why)
                continue
            suffix = _suffix(e.name)
            if suffix not in modality_of:
                modality_of[suffix] = modality_of_suffix(suffix)
            yield Found(root_r, rel, st.st_size, st.st_mtime_ns, modality_of[suffix])
        for e in dirs:
            if os.path.realpath(e.path) in skip_r:
                continue
            if e.is_symlink():
                report(Path(e.path), "a symlink to a folder (symlinked folders are not followed)")
                continue
            yield from visit(e.path, prefix + e.name + "/")

    yield from visit(root_s, "")


def _suffix(name: str) -> str:
    """``Path(name).suffix`` without building a Path."""
    i = name.rfind(".")
    return name[i:] if 0 < i < len(name) - 1 else ""


def _modality(p: Path) -> str | None:
    """The modality the file's suffix suggests (the modality table; the bytes still decide), or None
    for files the indexer does not pick up."""
    return modality_of_suffix(p.suffix)


def _outside(p: Path, root_r: Path) -> str | None:
    """Why the symlink ``p`` is not followed (None when it leads to a file inside ``root_r``)."""
    target = p.resolve()
    if not target.exists():
        return "a broken symlink"
    if not target.is_relative_to(root_r):
        return "a symlink to a file outside the indexed folder (not followed)"
    return None


def _not_regular(mode: int) -> str | None:
    """Why a file of this ``st_mode`` is not one the indexer may read (None for a regular file)."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe), not a regular file"
    if stat.S_ISSOCK(mode):
        return "a socket, not a regular file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device file, not a regular file"
    return "not a regular file"


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def write_result(store: Store, result, *, file_id: str, root: str, path: str, sha256: str, size: int,
                 mtime_ns: int, default_modality: str = "") -> tuple[str, int]:
    """Replace the records of one file by those of its embedding ``result`` (an
    :class:`~omniembed.types.EmbeddingResult` of a detailed call); returns (modality, pooled chunks).

    Shared by the single-machine indexer and the Ray one (``distributed.py``), so both write the very
    same records: every piece is a chunk record (the pooled pieces, then the fine windows, in the order
    the engine returns them: ``EmbedRequest.fine``), and the file record — the manifest entry — last."""
    modality, n_pooled, records = file_records(result, file_id=file_id, root=root, path=path, sha256=sha256,
                                               size=size, mtime_ns=mtime_ns, default_modality=default_modality)
    store.replace_file(file_id, records)
    return modality, n_pooled


def file_records(result, *, file_id: str, root: str, path: str, sha256: str, size: int, mtime_ns: int,
                 default_modality: str = "") -> tuple[str, int, list[Record]]:
    """The records :func:`write_result` writes for one file: (modality, pooled chunks, records) — every
    piece a chunk record, in the engine's order, and the file record (the manifest entry) last."""
    modality = result.modalities[0] if result.modalities else default_modality
    common = dict(file_id=file_id, root=root, path=path, modality=modality, sha256=sha256,
                  size=size, mtime_ns=mtime_ns, indexed_at=time.time())  # fmt: skip
    records = [
        Record(level="chunk", chunk=i, vector=p.vector, page=p.page, start_s=p.start_s, end_s=p.end_s,
               source=p.source, text=p.text, **common)  # fmt: skip
        for i, p in enumerate(result.pieces)
    ]
    pooled = [p for p in result.pieces if p.level == "chunk"]
    head = "\n".join(p.text for p in pooled[:8])[:_FILE_TEXT_CHARS]
    records.append(Record(level="file", chunk=-1, vector=result.vector, text=head,
                          source=",".join(sorted({p.source for p in pooled})),
                          n_chunks=len(pooled), **common))  # fmt: skip
    return modality, len(pooled), records


@contextlib.contextmanager
def _lock(store: Store) -> Iterator[None]:
    """An exclusive lock on a local store directory: two indexers writing at once would race."""
    path = getattr(store, "path", None)
    if not path or getattr(store, "url", None):
        yield
        return
    import fcntl

    Path(path).mkdir(parents=True, exist_ok=True)
    fh = open(Path(path) / ".index.lock", "w")
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InvalidInput(f"another `omniembed index` is writing to {path}; wait for it to finish") from None
        yield
    finally:
        fh.close()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OmniEmbedError):
        return str(exc)
    if isinstance(exc, OSError):
        return f"cannot read: {exc.strerror or exc}"
    return f"{type(exc).__name__}: {exc}"


class Indexer:
    """Embeds the files of a folder into a :class:`~omniembed.store.Store`.

    Args:
        store: where the vectors go; bound to the embedder's profile and ``dims`` on first use.
        embedder: an :class:`omniembed.Embedder` (default: a new lite one).
        dims: output size (Matryoshka), default the profile's native size.
        on_file: called with each :class:`FileOutcome` as soon as it is known (progress, logs, tests).
        fine: also store line/sentence windows of long pieces as chunk records (better hits, snippets).
    """

    def __init__(self, store: Store, embedder=None, *, dims: int | None = None,
                 on_file: Callable[[FileOutcome], None] | None = None, fine: bool = True):
        if embedder is None:
            from .embedder import Embedder

            embedder = Embedder()
        self.store = store
        self.embedder = embedder
        self.dims = int(dims or embedder.dimensions)
        embedder.engine.space.check_dimensionality(self.dims)
        self.on_file = on_file
        self.fine = fine

    # --------------------------------------------------------------------------------------------
    def plan(self, root: Path, existing: dict,
             skipped: list[FileOutcome] | None = None) -> tuple[list[Path], list[Found], list[str], int]:
        """(files to look at, files unchanged by size+mtime, file ids to remove, ignored count); files
        that are not regular files are appended to ``skipped``."""
        root_s = str(root)
        todo: list[Path] = []
        same: list[Found] = []
        seen: set[str] = set()
        ignored = 0
        skip = (Path(self.store.path),) if getattr(self.store, "path", None) else ()

        def on_skip(p: Path, why: str) -> None:
            if skipped is not None:
                skipped.append(FileOutcome(p.relative_to(root).as_posix(), "skipped", reason=why))

        for f in walk(root, skip=skip, on_skip=on_skip):
            if f.modality is None:
                ignored += 1
                continue
            fid = file_id_for(root_s, f.rel)
            seen.add(fid)
            entry = existing.get(fid)
            if entry is not None and entry.size == f.size and entry.mtime_ns == f.mtime_ns:
                same.append(f)
            else:
                todo.append(f.path)
        removed = [fid for fid in existing if fid not in seen]
        return todo, same, removed, ignored

    def _look(self, root: Path, path: Path, existing: dict) -> tuple[FileOutcome, tuple | None]:
        """Stat and hash one file: its outcome so far, and ``(file id, digest, stat)`` when it must be
        embedded — None when its content is unchanged (the manifest's size/mtime are updated) or it
        cannot be read (the outcome says why)."""
        rel = path.relative_to(root).as_posix()
        fid = file_id_for(str(root), rel)
        entry = existing.get(fid)
        t0 = time.perf_counter()
        out = FileOutcome(rel, "new" if entry is None else "changed", _modality(path) or "")
        try:
            st = path.stat()
            out.size = st.st_size
            digest = sha256_file(path)
        except OSError as exc:
            out.status, out.reason = "failed", _reason(exc)
            return out, None
        finally:
            out.seconds = time.perf_counter() - t0
        if entry is not None and entry.sha256 == digest:
            self.store.touch_file(fid, st.st_size, st.st_mtime_ns)
            out.status = "unchanged"
            return out, None
        return out, (fid, digest, st)

    def index_file(self, root: Path, path: Path, existing: dict) -> FileOutcome:
        """Embed one file on its own (unless its content hash is unchanged) and replace its records."""
        out, todo = self._look(root, path, existing)
        return out if todo is None else self._embed_one(root, path, out, todo)

    def _embed_one(self, root: Path, path: Path, out: FileOutcome, todo: tuple) -> FileOutcome:
        """Embed one looked-at file (``todo``: its file id, digest and stat from :meth:`_look`) on its
        own and replace its records; a failure is reported in ``out``, never raised."""
        fid, digest, st = todo
        t0 = time.perf_counter()
        try:
            result = self.embedder.embed_detailed(
                [path], task_type="RETRIEVAL_DOCUMENT", fine=self.fine,
                output_dimensionality=None if self.dims == self.embedder.dimensions else self.dims,
            )[0]  # fmt: skip
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # noqa: BLE001 — any failure of one file is reported, never fatal
            out.status, out.reason = "failed", _reason(exc)
            out.seconds += time.perf_counter() - t0
            return out
        out.modality, out.chunks = write_result(self.store, result, file_id=fid, root=str(root), path=out.path,
                                                sha256=digest, size=st.st_size, mtime_ns=st.st_mtime_ns,
                                                default_modality=out.modality)  # fmt: skip
        out.seconds += time.perf_counter() - t0
        return out

    def run(self, root: str | os.PathLike[str], *, console=None, progress: bool = True) -> IndexReport:
        """Index ``root``. Ctrl-C stops the run (files of the batch in progress, not yet written, are
        embedded again by the next run); the report then says ``interrupted``."""
        root_p = Path(root).expanduser()
        if not root_p.is_dir():
            raise InvalidInput(f"{root} is not a folder")
        root_p = root_p.resolve()
        t_start = time.perf_counter()
        info = self.store.bind(self.embedder.profile.id, self.dims)
        report = IndexReport(root=str(root_p), store=info.location)
        with _lock(self.store):
            report.pruned = self.store.prune_orphans()
            existing = self.store.files(str(root_p))
            skipped: list[FileOutcome] = []
            todo, same, removed, report.ignored = self.plan(root_p, existing, skipped)
            for o in skipped:
                self._emit(report, o)
            for f in same:  # size and mtime equal the manifest's (that is what made them "same")
                self._emit(report, FileOutcome(f.rel, "unchanged", f.modality or "", f.size))
            for fid in removed:
                self.store.delete_file(fid)
                self._emit(report, FileOutcome(existing[fid].path, "removed", existing[fid].modality))
            try:
                with _Progress(todo, console, enabled=progress) as bar:
                    self._index_todo(root_p, todo, existing, report, bar)
            except KeyboardInterrupt:
                report.interrupted = True
            if report.indexed or report.removed:
                self.store.optimize()
        report.seconds = time.perf_counter() - t_start
        return report

    def _index_todo(self, root_p: Path, todo: list[Path], existing: dict, report: IndexReport,
                    bar: "_Progress") -> None:
        """Embed and write the files to look at, :data:`INDEX_BATCH` at a time (the Ray indexer
        overrides this only)."""
        for i in range(0, len(todo), INDEX_BATCH):
            self._index_batch(root_p, todo[i : i + INDEX_BATCH], existing, report, bar)

    def _index_batch(self, root_p: Path, paths: list[Path], existing: dict, report: IndexReport,
                     bar: "_Progress") -> None:
        """Hash a batch of files, embed the changed ones (one :meth:`Embedder.embed_each` call per
        modality, so each modality's time is its own), write them all in one store commit, and report
        each file, in the batch's order. A file that fails is reported alone; if the batched call itself
        breaks (not one file's typed error), each file is embedded on its own (:meth:`_embed_one`; its
        hash is kept, not read again)."""
        root = str(root_p)
        outcomes: dict[Path, FileOutcome] = {}
        pending: dict[Path, tuple] = {}  # path → (file id, digest, stat): to embed
        for p in paths:
            outcomes[p], todo = self._look(root_p, p, existing)
            if todo is not None:
                pending[p] = todo
        by_modality: dict[str, list[Path]] = {}
        for p in pending:
            by_modality.setdefault(outcomes[p].modality, []).append(p)
        writes: list[tuple[str, list[Record]]] = []
        dims = None if self.dims == self.embedder.dimensions else self.dims
        for group in by_modality.values():
            bar.start_file(outcomes[group[0]].path)
            t0 = time.perf_counter()
            try:
                results = self.embedder.embed_each(group, task_type="RETRIEVAL_DOCUMENT", fine=self.fine,
                                                   output_dimensionality=dims)
            except KeyboardInterrupt:
                raise
            except Exception:  # noqa: BLE001 — not one file's typed error: every file alone, reported alone
                for p in group:  # already hashed: not read again
                    outcomes[p] = self._embed_one(root_p, p, outcomes[p], pending.pop(p))
                continue
            share = (time.perf_counter() - t0) / len(group)  # the files of one modality share the call
            for p, res in zip(group, results):
                out = outcomes[p]
                out.seconds += share
                if isinstance(res, Exception):
                    out.status, out.reason = "failed", _reason(res)
                    continue
                fid, digest, st = pending[p]
                out.modality, out.chunks, records = file_records(
                    res, file_id=fid, root=root, path=out.path, sha256=digest, size=st.st_size,
                    mtime_ns=st.st_mtime_ns, default_modality=out.modality)  # fmt: skip
                writes.append((fid, records))
        t0 = time.perf_counter()
        self.store.replace_files(writes)
        if writes:
            share = (time.perf_counter() - t0) / len(writes)
            written = {fid for fid, _ in writes}
            for p, (fid, _, _) in pending.items():
                if fid in written:
                    outcomes[p].seconds += share
        for p in paths:
            self._emit(report, outcomes[p])
            bar.done_file(outcomes[p])

    def _emit(self, report: IndexReport, outcome: FileOutcome) -> None:
        report.outcomes.append(outcome)
        if self.on_file is not None:
            self.on_file(outcome)


class _Progress:
    """A rich progress bar (files done/total, current file, files/min, MB/min, ETA) on a terminal; one
    log line per file otherwise (CI logs, pipes)."""

    def __init__(self, todo: list[Path], console, enabled: bool):
        from rich.console import Console

        self.console = console or Console(stderr=True)
        self.enabled = enabled
        self.total_bytes = 0
        for p in todo:
            with contextlib.suppress(OSError):
                self.total_bytes += p.stat().st_size
        self.n = len(todo)
        self.done = 0
        self.bytes = 0
        self.t0 = time.perf_counter()
        self.bar = None

    def __enter__(self) -> "_Progress":
        if self.enabled and self.n and self.console.is_terminal:
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn,
                                       TimeElapsedColumn, TimeRemainingColumn)  # fmt: skip

            self.bar = Progress(
                SpinnerColumn(), TextColumn("[bold]indexing"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                TextColumn("[dim]{task.fields[current]}"), console=self.console, transient=False,
            )  # fmt: skip
            self.bar.start()
            self.task = self.bar.add_task("index", total=self.n, rate="", current="")
        return self

    def _rate(self) -> str:
        dt = max(time.perf_counter() - self.t0, 1e-6)
        return f"{self.done / dt * 60:.1f} files/min · {self.bytes / dt * 60 / 1e6:.1f} MB/min"

    def start_file(self, rel: str) -> None:
        if self.bar is not None:
            self.bar.update(self.task, current=rel if len(rel) < 50 else "…" + rel[-48:])

    def done_file(self, o: FileOutcome) -> None:
        self.done += 1
        self.bytes += o.size
        if self.bar is not None:
            self.bar.update(self.task, advance=1, rate=self._rate())
            if o.status == "failed":
                self.bar.console.print(f"[yellow]skipped[/] {o.path}: {o.reason}")
        elif self.enabled and self.n:
            what = f"failed: {o.reason}" if o.status == "failed" else f"{o.status} ({o.chunks} pieces, {o.seconds:.1f}s)"
            self.console.print(f"[{self.done}/{self.n}] {o.path}: {what}", highlight=False, soft_wrap=True)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()


def index_folder(root: str | os.PathLike[str], store: str | Store | None = None, *, embedder=None,
                 dims: int | None = None, progress: bool = False) -> IndexReport:
    """Index ``root`` into ``store`` (a path or store spec, see :func:`omniembed.store.open_store`)."""
    from .store import open_store

    st = store if isinstance(store, Store) else open_store(store)
    try:
        return Indexer(st, embedder, dims=dims).run(root, progress=progress)
    finally:
        if not isinstance(store, Store):
            st.close()
