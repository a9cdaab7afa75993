"""Distributed indexing on Ray: ``omniembed index DIR --ray [ADDRESS]`` and :func:`index_dataset`.

How it works (docs/search.md "Indexing on Ray" has the measurements):

* **The driver plans, as on one machine.** The folder is listed, compared with the manifest by size and
  mtime, and every file left to look at is hashed (SHA-256) on the driver — the incremental rules of
  :class:`~omniembed.indexer.Indexer` unchanged, because this *is* an ``Indexer`` that overrides only the
  loop that embeds the files to do.
* **A pool of Ray actors embeds.** Each :class:`EmbedWorker` actor loads the profile once (models take
  seconds to load; a stateless task would pay that per call) and embeds one file per call. The driver
  keeps two calls in flight per actor (one computing, one queued, so no actor waits for the driver).
  Files travel as bytes through Ray's object store by default, so worker machines need no access to the
  folder; ``ship="paths"`` sends paths instead, for a folder mounted at the same path on every node.
* **The driver writes.** Results come back to the driver, which writes each file with
  :func:`~omniembed.indexer.write_result` — the very records the single-machine indexer writes, the file
  record (manifest entry) last. One writer means no duplicates and no write races on the store.
* **A worker crash** (its process killed, its node lost, out of memory) fails that actor's calls with a
  ``RayActorError``: their files go back to the front of the queue and are sent to another actor; the
  dead actor is restarted by Ray and gets work again once it answers a ping. A file whose worker dies
  ``max_attempts`` times (a file that crashes its decoder) is reported as failed, never retried forever.
* **A driver crash** loses only the files in flight: the actors die with their driver, every file
  written before has its manifest entry, a half-written one has none (its chunks are pruned), so running
  the same command again embeds exactly the files that are left.

Why actors and not Ray Data's ``map_batches``: an actor pool that the driver feeds itself keeps one file
per call with a per-file retry on another actor, which is what "every file exactly once, resumable" needs;
Ray Data would wrap the variable-length results (a file's pieces) in Arrow blocks only for the driver to
unwrap them, and its streaming executor reserves CPUs for its own read tasks — on a small cluster (2 cores
here) that leaves fewer for the actors. :func:`index_dataset` still takes a Ray Dataset of paths or bytes
(``ray.data.read_binary_files(..., include_paths=True)``) and streams its rows into the same pool.

Ray is imported only here, and only when a Ray index is asked for: the single-machine path never loads it.
Install with ``pip install 'omniembed[ray]'`` on the driver and on every worker node (same Python and
omniembed version: a worker checks it computes the driver's profile id before it gets any file).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from .errors import InvalidInput, OmniEmbedError, ProfileMismatch
from .indexer import FileOutcome, Indexer, IndexReport, _lock, _modality, _reason, sha256_file, write_result
from .store.base import Store, file_id_for

__all__ = ["EmbedWorker", "RayIndexer", "index_dataset", "connect", "disconnect"]

#: Calls in flight per actor: one computing, one waiting in its queue (so an actor never idles while
#: the driver writes); more only holds more files in the object store.
DEPTH = 2


@dataclass
class WorkerSpec:
    """How each actor builds its :class:`~omniembed.Embedder` (the driver's own arguments)."""

    profile: str = "lite"
    dims: int | None = None
    fine: bool = True
    options: dict = field(default_factory=dict)  # Embedder keyword arguments (asr_options, speech_model…)


class EmbedWorker:
    """One Ray actor: holds one loaded profile and embeds one file (bytes or a path) per call.

    Plain Python here; :func:`_actor_class` wraps it with ``ray.remote`` (so this module imports
    without Ray). A failure of the file itself (corrupt, unsupported) is returned, not raised: only a
    crash of the process is a worker failure."""

    def __init__(self, spec: WorkerSpec):
        from .embedder import Embedder

        self.spec = spec
        self.embedder = Embedder(spec.profile, **spec.options)
        self.dims = int(spec.dims or self.embedder.dimensions)

    def ready(self) -> tuple[str, int, int]:
        """(profile id, dims, pid): the driver refuses a worker whose profile id differs from its own."""
        return self.embedder.profile.id, self.dims, os.getpid()

    def embed(self, data: bytes | str) -> tuple[str, Any, float]:
        """("ok", EmbeddingResult, seconds) or ("failed", reason, seconds)."""
        from .types import Content, Part

        t0 = time.perf_counter()
        try:
            part = Part.from_bytes(data) if isinstance(data, (bytes, bytearray)) else Part.from_file(data)
            result = self.embedder.embed_detailed(
                [Content(parts=[part])], task_type="RETRIEVAL_DOCUMENT", fine=self.spec.fine,
                output_dimensionality=None if self.dims == self.embedder.dimensions else self.dims,
            )[0]  # fmt: skip
        except Exception as exc:  # noqa: BLE001 — one bad file is reported, the worker lives on
            return "failed", _reason(exc), time.perf_counter() - t0
        return "ok", result, time.perf_counter() - t0


@dataclass
class _Job:
    """One file to embed, as planned (and hashed) by the driver."""

    file_id: str
    rel: str
    status: str  # new | changed
    sha256: str
    size: int
    mtime_ns: int
    modality: str
    payload: Callable[[], bytes | str]  # read at dispatch time: bounded memory on the driver
    attempts: int = 0
    avoid: set = field(default_factory=set)  # actors whose process died while embedding it


def connect(address: str | None = None):
    """Connect to a Ray cluster (``address``: ``HOST:PORT`` of a head node, ``ray://…`` for Ray Client,
    or None/"auto": ``$RAY_ADDRESS`` or the cluster started on this machine by ``ray start``, else a new
    local one). Returns the ``ray`` module. Raises :class:`InvalidInput` without ``omniembed[ray]``."""
    try:
        import ray
    except ImportError:
        raise InvalidInput("indexing on Ray needs Ray: pip install 'omniembed[ray]'") from None
    if not ray.is_initialized():
        addr = None if address in (None, "", "auto") else address
        if addr and not addr.startswith("ray://"):
            _check_reachable(addr)
        try:
            ray.init(address=addr, include_dashboard=False, log_to_driver=False, configure_logging=False)
        except ConnectionError as exc:
            raise InvalidInput(f"cannot connect to the Ray cluster at {address}: {exc}") from None
    return ray


def disconnect() -> None:
    """Disconnect this driver from Ray (a cluster it started for itself stops with it)."""
    import sys

    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ray.shutdown()


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Refuse an address where no head node listens at once: ``ray.init`` would retry it for minutes."""
    import socket

    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=timeout):
            pass
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"cannot connect to the Ray cluster at {address}: {exc}; start its head with "
                           "`ray start --head` or give HOST:PORT of a running one") from None


def _actor_class(ray, num_cpus: float):
    # max_restarts=-1: Ray restarts a dead actor (the profile loads again); max_task_retries=0: its
    # in-flight calls fail instead of silently re-running, so the driver decides where a file goes next
    return ray.remote(num_cpus=num_cpus, max_restarts=-1, max_task_retries=0)(EmbedWorker)


class _Pool:
    """The actors and the dispatch loop: every job's result reaches ``on_done`` exactly once."""

    def __init__(self, ray, spec: WorkerSpec, workers: int | None, num_cpus: float, profile_id: str,
                 ready_timeout: float):
        from ray.exceptions import GetTimeoutError, RayError

        self.ray = ray
        cpus = ray.cluster_resources().get("CPU", 0)
        if workers is None:
            workers = max(1, int(cpus // num_cpus))
        if workers * num_cpus > cpus:  # the extra actors would wait for CPUs that never come
            raise InvalidInput(f"{workers} Ray workers of {num_cpus:g} CPU need {workers * num_cpus:g} CPUs; the "
                               f"cluster has {cpus:g} (fewer --ray-workers, or a smaller --ray-cpus)")
        cls = _actor_class(ray, num_cpus)
        self.actors = [cls.remote(spec) for _ in range(int(workers))]
        try:
            got = ray.get([a.ready.remote() for a in self.actors], timeout=ready_timeout)
        except GetTimeoutError:
            raise OmniEmbedError(f"the Ray workers did not load the profile within {ready_timeout:.0f} s") from None
        except RayError as exc:  # e.g. omniembed missing on a node: its actor cannot even start
            raise OmniEmbedError(f"a Ray worker could not start: {exc}") from None
        for prof, _dims, _pid in got:
            if prof != profile_id:
                raise ProfileMismatch(f"a Ray worker computes profile {prof}, the driver {profile_id}: install "
                                      "the same omniembed version and model directories on every node")
        self.pids = [pid for _, _, pid in got]  # the actors' processes (a restarted one: its new pid)
        self.retried = 0

    def run(self, jobs: Iterator[_Job], on_done: Callable[[_Job, str, Any, float], None], *,
            max_attempts: int, stall_timeout: float) -> None:
        ray = self.ray
        from ray.exceptions import RayError, RayTaskError

        queue: deque[_Job] = deque()
        inflight: dict = {}  # ObjectRef → (job, actor index)
        load = [0] * len(self.actors)
        suspect: dict = {}  # ping ObjectRef → actor index (an actor whose process died, until it answers)
        exhausted = False
        last_progress = time.monotonic()

        def usable(i: int) -> bool:
            return i not in suspect.values() and load[i] < DEPTH

        while True:
            # fill every usable actor up to DEPTH, least loaded first
            while True:
                if not queue and not exhausted:
                    nxt = next(jobs, None)
                    if nxt is None:
                        exhausted = True
                    else:
                        queue.append(nxt)
                if not queue:
                    break
                job = queue[0]
                free = [i for i in range(len(self.actors)) if usable(i)]
                if not free:
                    break
                fresh = [i for i in free if i not in job.avoid] or free
                i = min(fresh, key=lambda j: load[j])
                queue.popleft()
                try:
                    payload = job.payload()
                except OSError as exc:
                    on_done(job, "failed", f"cannot read: {exc.strerror or exc}", 0.0)
                    continue
                inflight[self.actors[i].embed.remote(payload)] = (job, i)
                load[i] += 1
            if not inflight and not queue and exhausted:
                return
            if not inflight and not suspect:  # cannot happen: nothing to wait for but work left
                raise OmniEmbedError("the Ray pool has no worker left to send files to")
            refs = list(inflight) + list(suspect)
            ready, _ = ray.wait(refs, num_returns=1, timeout=1.0)
            if not ready:
                if time.monotonic() - last_progress > stall_timeout:
                    raise OmniEmbedError(f"no Ray worker answered for {stall_timeout:.0f} s; run the same "
                                         "command again to resume (files written so far are kept)")
                continue
            last_progress = time.monotonic()
            for ref in ready:
                if ref in suspect:
                    i = suspect.pop(ref)
                    with contextlib.suppress(RayError):
                        self.pids[i] = ray.get(ref)[2]
                    continue
                job, i = inflight.pop(ref)
                load[i] -= 1
                try:
                    status, value, seconds = ray.get(ref)
                except RayTaskError as exc:  # the call itself raised outside embed's guard (a bug)
                    on_done(job, "failed", f"the Ray worker raised {exc.cause!r}", 0.0)
                    continue
                except RayError as exc:  # the worker process died: retry the file on another actor
                    job.attempts += 1
                    job.avoid.add(i)
                    self.retried += 1
                    if i not in suspect.values():
                        suspect[self.actors[i].ready.remote()] = i
                    if job.attempts >= max_attempts:
                        on_done(job, "failed", f"the Ray worker embedding it died {job.attempts} times "
                                               f"({type(exc).__name__})", 0.0)
                    else:
                        queue.appendleft(job)
                    continue
                on_done(job, status, value, seconds)


class RayIndexer(Indexer):
    """An :class:`~omniembed.indexer.Indexer` whose files are embedded by a pool of Ray actors.

    Args:
        store: where the vectors go (written by the driver only).
        profile: the profile name or model directory every worker loads (the same path on every node).
        address: the Ray cluster (see :func:`connect`); None: ``$RAY_ADDRESS``, the local ``ray start``
            cluster, else a new local one.
        workers: actors in the pool (default: the cluster's CPUs / ``num_cpus``).
        num_cpus: CPUs each actor reserves (Ray schedules by it: one per core is the fast setting for lite).
        ship: ``"bytes"`` (files travel through Ray's object store; workers need not see the folder) or
            ``"paths"`` (the folder is mounted at the same path on every node).
        max_attempts: how many worker deaths one file may cause before it is reported as failed.
        embedder_options: further :class:`~omniembed.Embedder` arguments for the workers and the driver.
    """

    def __init__(self, store: Store, profile: str = "lite", *, dims: int | None = None, address: str | None = None,
                 workers: int | None = None, num_cpus: float = 1.0, ship: str = "bytes", max_attempts: int = 3,
                 fine: bool = True, on_file: Callable[[FileOutcome], None] | None = None,
                 embedder_options: dict | None = None, ready_timeout: float = 600.0,
                 stall_timeout: float = 1800.0):
        from .embedder import Embedder

        if ship not in ("bytes", "paths"):
            raise InvalidInput(f"ship must be 'bytes' or 'paths', not {ship!r}")
        if workers is not None and workers < 1:
            raise InvalidInput(f"at least one Ray worker is needed, not {workers}")
        options = dict(embedder_options or {})
        # the driver's embedder only names the profile and checks the size: no model loads on the driver
        super().__init__(store, Embedder(profile, **options), dims=dims, on_file=on_file, fine=fine)
        self.spec = WorkerSpec(profile=str(profile), dims=self.dims, fine=fine, options=options)
        self.address, self.workers, self.num_cpus = address, workers, float(num_cpus)
        self.ship, self.max_attempts = ship, int(max_attempts)
        self.ready_timeout, self.stall_timeout = ready_timeout, stall_timeout
        self.pool: _Pool | None = None
        #: the driver's time in store writes: the ceiling of a run is files / write_seconds (docs/search.md)
        self.write_seconds = 0.0
        #: called once the actors are up (tests use it to find a worker's pid to kill)
        self.on_pool: Callable[[_Pool], None] | None = None

    def _start(self) -> _Pool:
        ray = connect(self.address)
        self.pool = _Pool(ray, self.spec, self.workers, self.num_cpus, self.embedder.profile.id,
                          self.ready_timeout)
        if self.on_pool is not None:
            self.on_pool(self.pool)
        return self.pool

    def _on_done(self, root: str, report: IndexReport, bar) -> Callable:
        def done(job: _Job, status: str, value: Any, seconds: float) -> None:
            out = FileOutcome(job.rel, job.status, job.modality, job.size, seconds)
            if status == "ok":
                t0 = time.perf_counter()
                out.modality, out.chunks = write_result(
                    self.store, value, file_id=job.file_id, root=root, path=job.rel, sha256=job.sha256,
                    size=job.size, mtime_ns=job.mtime_ns, default_modality=job.modality)  # fmt: skip
                self.write_seconds += time.perf_counter() - t0
            else:
                out.status, out.reason = "failed", str(value)
            self._emit(report, out)
            if bar is not None:
                bar.done_file(out)

        return done

    def _index_todo(self, root_p: Path, todo: list[Path], existing: dict, report: IndexReport, bar) -> None:
        """Hash the files to look at on the driver (unchanged content: only the manifest's size/mtime is
        updated, as on one machine) and send the rest to the actors."""
        root = str(root_p)

        def jobs() -> Iterator[_Job]:
            for p in todo:
                out, todo_ = self._look(root_p, p, existing)  # stat and hash, as on one machine
                if todo_ is None:  # unchanged content (manifest updated) or unreadable
                    self._emit(report, out)
                    bar.done_file(out)
                    continue
                fid, digest, st = todo_
                payload = (lambda p=p: str(p)) if self.ship == "paths" else (lambda p=p: p.read_bytes())
                yield _Job(fid, out.path, out.status, digest, st.st_size, st.st_mtime_ns, out.modality, payload)

        pool = self.pool or self._start()
        try:
            pool.run(jobs(), self._on_done(root, report, bar), max_attempts=self.max_attempts,
                     stall_timeout=self.stall_timeout)
        finally:
            report.worker_retries = pool.retried

    def run(self, root: str | os.PathLike[str], *, console=None, progress: bool = True) -> IndexReport:
        """Index ``root`` (see :meth:`Indexer.run`); the actors are released at the end."""
        try:
            return super().run(root, console=console, progress=progress)
        finally:
            self.close()

    def close(self) -> None:
        """Release the actors (they also die with the driver process)."""
        if self.pool is not None:
            for a in self.pool.actors:
                with contextlib.suppress(Exception):
                    self.pool.ray.kill(a)
            self.pool = None


def index_dataset(ds, store: Store, *, root: str, profile: str = "lite", dims: int | None = None,
                  address: str | None = None, workers: int | None = None, num_cpus: float = 1.0,
                  remove_missing: bool = False, on_file: Callable[[FileOutcome], None] | None = None,
                  **options: Any) -> IndexReport:
    """Index the files of a Ray Dataset into ``store`` with a pool of Ray actors.

    ``ds`` has a ``path`` column and, optionally, a ``bytes`` column — what
    ``ray.data.read_binary_files(paths, include_paths=True)`` gives (files on S3, GCS, HDFS…). Rows with
    bytes are hashed and shipped as bytes; rows with only a path are read on the driver for their hash
    and sent as paths (the path must then be readable on every node). ``root`` names the collection (a
    path is stored relative to it when it starts with it), so running it again over the same files is
    incremental: an unchanged hash is skipped, a changed file replaced. A dataset is not a listing of a
    folder, so files missing from it are removed from the store only with ``remove_missing``.
    Other keyword arguments go to :class:`RayIndexer` (``max_attempts``, ``embedder_options``, ``fine``…).
    """
    import hashlib

    if workers is None:  # leave one CPU's worth for the dataset's own read tasks
        cpus = connect(address).cluster_resources().get("CPU", 1)
        workers = max(1, int(cpus // num_cpus) - 1)
    ix = RayIndexer(store, profile, dims=dims, address=address, workers=workers, num_cpus=num_cpus,
                    on_file=on_file, **options)
    root = str(root).rstrip("/") or "/"
    t0 = time.perf_counter()
    info = store.bind(ix.embedder.profile.id, ix.dims)
    report = IndexReport(root=root, store=info.location)
    with _lock(store):
        report.pruned = store.prune_orphans()
        existing = store.files(root)
        seen: set[str] = set()

        def rel_of(path: str) -> str:
            p = str(path)
            return p[len(root) + 1 :] if p.startswith(root + "/") else p.lstrip("/")

        def jobs(rows: Iterable[dict]) -> Iterator[_Job]:
            for row in rows:
                rel = rel_of(row["path"])
                fid = file_id_for(root, rel)
                if fid in seen:
                    continue  # the same file twice in the dataset: embedded once
                seen.add(fid)
                entry = existing.get(fid)
                out = FileOutcome(rel, "new" if entry is None else "changed", _modality(Path(rel)) or "")
                data = row.get("bytes")
                try:
                    if data is not None:
                        data = bytes(data)
                        digest, size, mtime = hashlib.sha256(data).hexdigest(), len(data), int(row.get("mtime_ns") or 0)
                        payload = (lambda d=data: d)
                    else:
                        st = os.stat(row["path"])
                        digest, size, mtime = sha256_file(Path(row["path"])), st.st_size, st.st_mtime_ns
                        payload = (lambda p=str(row["path"]): p)
                except OSError as exc:
                    out.status, out.reason = "failed", _reason(exc)
                    ix._emit(report, out)
                    continue
                out.size = size
                if entry is not None and entry.sha256 == digest:
                    if (entry.size, entry.mtime_ns) != (size, mtime):
                        store.touch_file(fid, size, mtime)
                    out.status = "unchanged"
                    ix._emit(report, out)
                    continue
                yield _Job(fid, rel, out.status, digest, size, mtime, out.modality, payload)

        try:
            pool = ix._start()
            try:
                pool.run(jobs(ds.iter_rows()), ix._on_done(root, report, None), max_attempts=ix.max_attempts,
                         stall_timeout=ix.stall_timeout)
            finally:
                report.worker_retries = pool.retried
            if remove_missing:
                for fid in set(existing) - seen:
                    store.delete_file(fid)
                    ix._emit(report, FileOutcome(existing[fid].path, "removed", existing[fid].modality))
        except KeyboardInterrupt:
            report.interrupted = True
        finally:
            ix.close()
        if report.indexed or report.removed:
            store.optimize()
    report.seconds = time.perf_counter() - t0
    return report
