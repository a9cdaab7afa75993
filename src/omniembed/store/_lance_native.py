"""Search a local LanceDB table through LanceDB's native (Rust) binding, without its Python layer.

Why: ``omniembed search`` needs two queries (nearest vectors, BM25), and ``import lancedb`` — its Python
layer — costs more than a whole ``omniembed embed "q"``: 1.6 s of ``python -X importtime`` at load 2
(pyarrow's dataset module importing pandas 0.42 s, ``lance_namespace``'s ~100 pydantic request models
0.42 s, ``lancedb.embeddings`` 0.22 s, ``lancedb.db``/``remote``/``namespace`` 0.3 s), while the native
extension ``lancedb._lancedb`` that does the actual work loads in 7 ms and pyarrow's core in 42 ms. So
the two read queries of a search go straight to the native binding (``NativeTable``), built with the
very calls LanceDB's Python layer makes for ``table.search(...)`` (``AsyncTable._sync_query_to_async``
in lancedb 0.40): same index, same distance, same probes and re-ranking, so the same rows and scores
(``tests/test_lance_native.py`` compares both paths on a real store). Writes, indexes, manifests and
object storage keep using LanceDB's public Python API.

How the extension is loaded: from the installed ``lancedb`` package's directory, registered as
``lancedb._lancedb`` *without* running ``lancedb/__init__`` — a later ``import lancedb`` then finds and
reuses the same module. The native API is not a public one, so it is used only on the LanceDB versions
it was checked against (:data:`TESTED`); on any other version, or if loading fails, :func:`native_module`
returns None and the store uses LanceDB's Python layer as before (``OMNIEMBED_LANCE_NATIVE=0`` or ``off`` chooses
that layer on any version, e.g. to rule this module out when a search looks wrong).
"""

from __future__ import annotations

import asyncio
import glob
import importlib.machinery
import importlib.util
import os
import sys
import threading
import warnings
from types import ModuleType
from typing import Any, Coroutine

import numpy as np

from .._env import flag

__all__ = ["NativeTable", "native_module", "open_native", "TESTED"]

#: LanceDB (major, minor) versions whose native query API this module was checked against.
TESTED = {(0, 40)}
_NAME = "lancedb._lancedb"
_lock = threading.Lock()
_state: dict[str, Any] = {}


def _version() -> tuple[int, int] | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        major, minor = version("lancedb").split(".")[:2]
        return int(major), int(minor)
    except (PackageNotFoundError, ValueError):
        return None


def native_module() -> ModuleType | None:
    """``lancedb._lancedb`` (loaded without LanceDB's Python layer if that is not imported yet), or
    None when LanceDB is missing, of a version not in :data:`TESTED`, or the extension cannot load."""
    with _lock:
        if "module" in _state:
            return _state["module"]
        _state["module"] = mod = _load()
        return mod


def _load() -> ModuleType | None:
    if not flag("OMNIEMBED_LANCE_NATIVE", True) or _version() not in TESTED:
        return None
    if _NAME in sys.modules:
        return sys.modules[_NAME]
    try:
        spec = importlib.util.find_spec("lancedb")  # a top-level package: found, not imported
        if spec is None or not spec.submodule_search_locations:
            return None
        if "lancedb" in sys.modules:  # the Python layer is loaded: it loaded the extension the usual way
            import lancedb._lancedb as mod

            return mod
        found = [p for d in spec.submodule_search_locations for p in glob.glob(os.path.join(d, "_lancedb*.so"))]
        if len(found) != 1:
            return None
        import pyarrow  # noqa: F401 — the extension exchanges Arrow data through pyarrow

        loader = importlib.machinery.ExtensionFileLoader(_NAME, found[0])
        ext_spec = importlib.util.spec_from_file_location(_NAME, found[0], loader=loader)
        assert ext_spec is not None
        mod = importlib.util.module_from_spec(ext_spec)
        loader.exec_module(mod)
        sys.modules[_NAME] = mod
        return mod
    except Exception:  # noqa: BLE001 — the Python layer remains; it reports real problems itself
        return None


def _after_fork_in_child() -> None:
    """A forked child has none of its parent's threads: no event-loop thread (a search there waited on
    it forever), and a lock a parent thread held at fork time would stay held. Start both afresh.

    LanceDB resets its own Rust runtime in the child, but calls its fork support experimental, and it
    is: in a process that had searched, the first search of a forked child crashed (SIGSEGV, a tokio
    task-state panic) or hung in 2 of 60 forks measured here, and 21 of 200 when one parent forked
    repeatedly; opening the store afresh in the child did not help (8 of 200). Hence the warning, once:
    start such processes with ``spawn`` or ``forkserver``, as omniembed's own workers do."""
    global _lock
    _lock = threading.Lock()
    if _state.pop("loop", None) is not None and not _state.get("warned"):
        _state["warned"] = True
        warnings.warn(
            "omniembed: this process was forked after a LanceDB search; LanceDB's fork support is experimental "
            "and a search here may crash or hang now and then. Use the 'spawn' or 'forkserver' start method.",
            RuntimeWarning,
            stacklevel=2,
        )


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _run(coro_fn, *args) -> Any:
    """Run ``await coro_fn(*args)`` on one background event loop (the native binding's futures need a
    running loop; a caller may itself be inside one, e.g. the server), and return its result."""
    with _lock:
        loop = _state.get("loop")
        if loop is None:  # (none yet, or a forked child: see _after_fork_in_child)
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="omniembed-lance-native", daemon=True).start()
            _state["loop"] = loop

    async def call() -> Any:
        return await coro_fn(*args)

    return asyncio.run_coroutine_threadsafe(call(), loop).result()


def _collect(query) -> "Any":
    """Execute a native query and read every batch into one ``pyarrow.Table``."""
    import pyarrow as pa

    async def go():
        stream = await query.execute(None, None)
        batches = [b async for b in stream]
        return pa.Table.from_batches(batches, stream.schema)

    return go()


class NativeTable:
    """One table of a local LanceDB directory, opened through the native binding (read queries only)."""

    def __init__(self, mod: ModuleType, location: str, name: str):
        async def open_():
            # the arguments LanceDBConnection passes; read_consistency_interval 0: every read sees the
            # latest commit, as the store's own connection does (a search during an index run)
            conn = await mod.connect(location, None, None, None, None, 0.0, None, None, None)
            return conn, await conn.open_table(name)

        self._conn, self._table = _run(open_)

    def count_rows(self, where: str | None = None) -> int:
        return int(_run(self._table.count_rows, where))

    def indexed_columns(self) -> set[str]:
        return {ix.columns[0] for ix in _run(self._table.list_indices) if ix.columns}

    def vector_search(self, vector: np.ndarray, k: int, columns: list[str], where: str, *, nprobes: int,
                      refine_factor: int):
        """What ``table.search(vector).distance_type("cosine").nprobes(n).refine_factor(r).limit(k)
        .select(columns).where(where, prefilter=True).to_arrow()`` runs, as a ``pyarrow.Table``."""
        import pyarrow as pa

        vec = np.ascontiguousarray(vector, dtype=np.float32).ravel()
        q = self._table.query()
        q.limit(int(k))
        q.select_columns(list(columns))
        if where:
            q.where(where)
        # (pa.array on a numpy array would make pyarrow look for pandas: 0.4 s; the buffer is the same data)
        vq = q.nearest_to(pa.Array.from_buffers(pa.float32(), len(vec), [None, pa.py_buffer(vec)]))
        vq.distance_range(None, None)
        vq.distance_type("cosine")
        vq.nprobes(int(nprobes))
        vq.maximum_nprobes(int(nprobes))
        vq.refine_factor(int(refine_factor))
        vq.column("vector")
        return _run(lambda: _collect(vq))

    def text_search(self, text: str, column: str, k: int, columns: list[str], where: str):
        """What ``table.search(MatchQuery(text, column), query_type="fts").limit(k).select(columns)
        .where(where, prefilter=True).to_arrow()`` runs (BM25 over the column's full-text index)."""
        q = self._table.query()
        q.limit(int(k))
        q.select_columns(list(columns))
        if where:
            q.where(where)
        fq = q.nearest_to_text({"query": text, "columns": [column]})
        return _run(lambda: _collect(fq))

    def close(self) -> None:
        self._table = None
        self._conn = None


def open_native(location: str, name: str) -> NativeTable | None:
    """A :class:`NativeTable`, or None when the native binding cannot be used (see :func:`native_module`)."""
    mod = native_module()
    if mod is None:
        return None
    return NativeTable(mod, location, name)
