"""LanceDB backend (the default): an embedded, on-disk columnar store in one directory.

Layout of a store directory::

    STORE/store.json          {"backend": "lancedb", "profile": "omniembed-lite-1", "dims": 384, "format": 1}
    STORE/records.lance/      every file and chunk record (one table)

Each write is one Lance commit, and Lance commits are atomic: a killed process leaves at most
unreferenced data files behind, never a half-visible write.

Reads of a search (:meth:`LanceStore.search`, :meth:`LanceStore.search_text`) on a local store go through
LanceDB's native binding without its Python layer (``_lance_native.py``: the binding loads in
milliseconds, ``import lancedb`` takes longer than embedding the query), with the same query as
``table.search(...)`` builds; writes, indexes, manifests and object storage use LanceDB's Python API.

Indexes (LanceDB's own, kept current by :meth:`LanceStore.optimize` at the end of every index run, which
folds new rows into them without retraining; rows not yet folded in are still searched, exhaustively):

* scalar: BTREE on ``file_id`` (every replace/delete filters by it: 399 → 76 ms per file at 1 M records),
  BITMAP on ``level`` and ``modality`` (the search and manifest filters);
* full-text (Lance's native inverted index, BM25) on ``text``: the keyword half of hybrid search;
* vector: IVF-SQ on ``vector`` (cosine; ~√n k-means partitions, 8-bit scalar-quantized vectors), built
  once the table holds :data:`ANN_MIN_ROWS` records — below that an exhaustive scan is fast enough and
  exact. Queries probe :data:`NPROBES` partitions, or :data:`PROBE_SHARE` of them in a big store
  (:func:`nprobes_for`), and re-rank ``REFINE_FACTOR × k`` candidates with the full vectors, so the
  ranking stays close to exact. Measured at 100 k records of real e5 vectors (2
  busy cores, load 15): IVF-SQ builds in 8 s and reaches recall@10 0.998 at 11.6 ms; IVF-PQ (96×8-bit
  sub-vectors) took 435 s to build and reached 0.94 at best (e5 vectors share a strong common
  direction, which PQ codes waste their bits on); IVF-HNSW-SQ took 68 s and reached 0.97 at 11.9 ms.
  Numbers at 10 k / 100 k / 1 M: ``bench/bench_scale.py`` and docs/search.md.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..errors import InvalidInput, MissingDependency
from ._lance_native import NativeTable, open_native
from ._lancedb_import import import_lancedb, prefetch_lancedb
from .base import FileEntry, Record, Store, StoreHit

__all__ = ["LanceStore", "is_object_uri", "OBJECT_SCHEMES"]

_TABLE = "records"
#: Build the vector index once the table holds this many records (see docs/search.md: below it an exact
#: scan answers in a few ms, and IVF training on few rows gives poor partitions).
ANN_MIN_ROWS = 50_000
#: IVF partitions probed per query, at least, and the re-rank factor (candidates re-scored with full vectors).
NPROBES = 64
#: 2, not 4: on the 1 M build below, re-ranking 2k instead of 4k candidates gave the same recall@10 at 64
#: and at 128 probes (0.939 / 0.998 both ways) and saved ~3 ms per query (34.0 → 31.0 ms at 64 probes).
REFINE_FACTOR = 2
#: ...and at least this share of the index's partitions. The index has ~√n partitions, so a fixed count
#: covers a shrinking share as the store grows. One IVF-SQ build of 1.05 M real e5 vectors, 100 real
#: queries (``bench_scale --sweep``, 2026-12-01): recall@10 vs exact 0.939 at 64 probes (6 %), 0.978 at
#: 96, 0.998 at 128 (12.5 %), for +0–7 ms; at 100 k (316 partitions) 64 probes already gave 0.986.
PROBE_SHARE = 0.1
#: How long a store reuses its row count for :func:`nprobes_for` (another process may be adding rows).
_ROWS_TTL_S = 60.0
#: The vector index type (see docs/search.md for the IVF-PQ / IVF-HNSW-SQ measurement).
ANN_INDEX = "IVF_SQ"
_ANN_FLOOR = 256  # fewer rows cannot train the quantizer; an exact scan is instant there anyway
_SCALAR = {"file_id": "BTREE", "level": "BITMAP", "modality": "BITMAP"}
_META = "store.json"
_META_KEY = b"omniembed"  # the schema metadata key of the binding on object storage
#: URI schemes LanceDB opens on object storage (credentials and endpoint from the usual environment
#: variables, e.g. AWS_ACCESS_KEY_ID, AWS_ENDPOINT, AWS_ALLOW_HTTP; or ``storage_options``)
OBJECT_SCHEMES = ("s3://", "s3+ddb://", "gs://", "az://", "abfss://")


def is_object_uri(spec: str) -> bool:
    """Whether a store spec names object storage rather than a local directory."""
    return spec.startswith(OBJECT_SCHEMES)
_SAFE = re.compile(r"^[A-Za-z0-9_.:-]+$")


def _sql_str(value: str) -> str:
    """A string literal's body for a Lance filter (any text: quotes doubled)."""
    return value.replace("'", "''")


def _quote(value: str) -> str:
    if not _SAFE.match(value):  # ids and modality names only; never user text
        raise InvalidInput(f"invalid identifier in a store filter: {value!r}")
    return f"'{value}'"


def _where(level: str | None, modalities: Iterable[str] | None) -> str:
    """The prefilter of a search (served by the level/modality bitmap indexes)."""
    conds = [f"level = {_quote(level)}"] if level else []
    mods = list(modalities or [])
    if mods:
        conds.append(f"modality IN ({', '.join(_quote(m) for m in mods)})")
    return " AND ".join(conds)


def _schema(dims: int):
    import pyarrow as pa

    return pa.schema(
        [
            pa.field("id", pa.string(), nullable=False),
            pa.field("file_id", pa.string(), nullable=False),
            pa.field("root", pa.string()),
            pa.field("path", pa.string()),
            pa.field("level", pa.string()),
            pa.field("modality", pa.string()),
            pa.field("chunk", pa.int32()),
            pa.field("mime", pa.string()),
            pa.field("page", pa.int32(), nullable=True),
            pa.field("start_s", pa.float64(), nullable=True),
            pa.field("end_s", pa.float64(), nullable=True),
            pa.field("source", pa.string()),
            pa.field("text", pa.string()),
            pa.field("sha256", pa.string()),
            pa.field("size", pa.int64()),
            pa.field("mtime_ns", pa.int64()),
            pa.field("n_chunks", pa.int32()),
            pa.field("indexed_at", pa.float64()),
            pa.field("vector", pa.list_(pa.float32(), dims)),
        ]
    )


#: Every column of a record but the vector.
_RECORD_COLUMNS = ["id", "file_id", "root", "path", "level", "modality", "chunk", "mime", "page", "start_s", "end_s",
                   "source", "text", "sha256", "size", "mtime_ns", "n_chunks", "indexed_at"]
#: The columns a search hit shows (:class:`~omniembed.search.SearchHit`): not the vector (re-reading it
#: for each hit cost more than the search), nor the manifest's fields (mime, sha256, size, mtime_ns,
#: n_chunks, indexed_at), which no hit shows. Every column read costs a random read per query: at 1 M
#: records, 12 columns instead of 18 took a 20-record ANN query from 59.6 to 41.5 ms p50 (load ~6, same
#: run; the id column alone 25.2 ms).
_HIT_COLUMNS = ["file_id", "root", "path", "level", "modality", "chunk", "page", "start_s", "end_s",
                "source", "text"]


def _hits(rows: list[dict], key: str, score) -> list[StoreHit]:
    """Query rows (the hit columns plus ``key``: the distance or the BM25 score) as hits scored
    ``score(row[key])``, in the query's order."""
    out = []
    for row in rows:
        value = float(row.pop(key))
        out.append(StoreHit(Record.from_payload(row), score(value)))
    return out


def ivf_partitions(rows: int) -> int:
    """IVF partitions of a vector index over ``rows`` records: ~√n, at most 4,096."""
    return max(1, min(4096, int(round(rows**0.5))))


def nprobes_for(rows: int) -> int:
    """Partitions a query probes in a store of ``rows`` records: :data:`NPROBES`, or
    :data:`PROBE_SHARE` of the index's partitions when that is more (1 M records: 103 of 1,024)."""
    return max(NPROBES, math.ceil(PROBE_SHARE * ivf_partitions(rows)))


class LanceStore(Store):
    """Records in a LanceDB table under ``path`` (created on first :meth:`bind`)."""

    backend = "lancedb"
    keyword_search = True
    concurrent_reads = True  # LanceDB reads are thread-safe; the lazy connect/open below takes _open_lock

    def __init__(self, path: str | os.PathLike[str], *, storage_options: dict[str, str] | None = None):
        # only whether LanceDB is installed: importing it costs seconds (see _lancedb_import.py), and
        # reading the store's binding (profile, size) from store.json needs none of it
        if importlib.util.find_spec("lancedb") is None:
            raise MissingDependency("the LanceDB store needs: pip install 'omniembed[store]'")
        spec = str(path)
        #: an object-storage URI (``s3://bucket/prefix``, ``gs://…``, ``az://…``), else None
        self.uri: str | None = spec.rstrip("/") if is_object_uri(spec) else None
        #: the local directory (None for object storage: no local lock, no ``store.json`` file)
        self.path: Path | None = None if self.uri else Path(path).expanduser().resolve()
        self.storage_options = dict(storage_options or {})
        self._db = None
        self._table = None
        self._binding: tuple[str, int] | None = None
        self._rows_seen: tuple[float, int] | None = None  # (monotonic time, row count): nprobes_for
        self._text_indexed = False  # the full-text index is known to exist (search_text's native path)
        #: the read path of search (see _lance_native.py): None = not tried yet, False = not available
        self._native: NativeTable | None | bool = None
        self._native_lock = threading.Lock()
        self._open_lock = threading.RLock()  # _connect and table: one connection and table per store object
        self._prefetch: threading.Thread | None = None

    @property
    def location(self) -> str:
        return self.uri or str(self.path)

    def prefetch(self) -> None:
        """Get the search path ready in a background thread while the caller embeds its query: the
        native binding and the table opened (:meth:`_reader`, ~0.1 s), or where that is not available,
        LanceDB's Python layer imported (:func:`prefetch_lancedb`, seconds)."""
        if self._native is not None or self._prefetch is not None:
            return
        if self.uri:
            if self._db is None:
                prefetch_lancedb()
            return

        def run() -> None:
            try:
                if self._reader() is None:
                    prefetch_lancedb()
            except Exception:  # noqa: BLE001 — the foreground call reports the same error properly
                pass

        # not a daemon, as prefetch_lancedb's: a daemon thread still in native code at exit aborts the process
        self._prefetch = threading.Thread(target=run, name="omniembed-store-prefetch", daemon=False)
        self._prefetch.start()

    def _reader(self) -> NativeTable | None:
        """The native read path of :meth:`search` and :meth:`search_text` (local stores on a LanceDB
        version it was checked against), opened once; None: use LanceDB's Python layer."""
        if self._native is None and not self.uri:
            with self._native_lock:
                # an unbound (empty) store is not cached as unavailable: it may be indexed meanwhile
                if self._native is None and self._read_binding() is not None:
                    native = open_native(str(self.path), _TABLE)
                    self._native = native if native is not None else False
        return self._native or None

    # --- binding --------------------------------------------------------------------------------
    def _read_binding(self) -> tuple[str, int] | None:
        if self.uri:
            return self._read_remote_binding()
        meta = self.path / _META  # type: ignore[operator]
        if not meta.is_file():
            return None
        data = json.loads(meta.read_text("utf-8"))
        if data.get("backend", self.backend) != self.backend:
            raise InvalidInput(f"{self.path} is a {data.get('backend')} store, not a LanceDB store")
        return str(data["profile"]), int(data["dims"])

    def _read_remote_binding(self) -> tuple[str, int] | None:
        """On object storage the binding is the table's schema metadata: it appears with the table in
        one commit (no second object to keep in step), and is read once per store object."""
        if self._binding is None:
            db = self._connect()
            if _TABLE not in db.list_tables().tables:
                return None
            self._table = db.open_table(_TABLE)
            raw = (self._table.schema.metadata or {}).get(_META_KEY)
            if raw is None:
                raise InvalidInput(f"{self.uri} holds a '{_TABLE}' table that omniembed did not create")
            data = json.loads(raw)
            self._binding = (str(data["profile"]), int(data["dims"]))
        return self._binding

    def _create(self, profile: str, dims: int) -> None:
        meta = json.dumps({"backend": self.backend, "profile": profile, "dims": int(dims), "format": 1}, indent=1)
        if self.uri:
            db = self._connect()
            if _TABLE not in db.list_tables().tables:
                db.create_table(_TABLE, schema=_schema(dims).with_metadata({_META_KEY: meta}))
            self._table = None
            self._binding = None
            return
        self.path.mkdir(parents=True, exist_ok=True)  # type: ignore[union-attr]
        db = self._connect()
        if _TABLE not in db.list_tables().tables:
            db.create_table(_TABLE, schema=_schema(dims))
        tmp = self.path / (_META + ".tmp")  # type: ignore[operator]
        tmp.write_text(meta, "utf-8")
        os.replace(tmp, self.path / _META)  # type: ignore[operator]  # the binding appears atomically, after the table exists
        self._table = None

    def _connect(self):
        if self._db is not None:  # the hot path: no lock once connected
            return self._db
        with self._open_lock:
            if self._db is not None:  # another thread connected while this one waited
                return self._db
            if self._prefetch is not None and self._prefetch is not threading.current_thread():
                # the prefetch may be loading LanceDB's native extension outside its package right now;
                # importing the package meanwhile loaded the extension twice, and its second init
                # panicked in Rust ("env_logger::init_from_env should not be called after logger
                # initialized", `omniembed cluster`, now and then)
                self._prefetch.join()
            lancedb = import_lancedb()

            # read_consistency_interval=0: every read sees the latest commit, so a search page served
            # while an indexer runs shows new files without a restart.
            kw = {"storage_options": self.storage_options} if self.storage_options else {}
            self._db = lancedb.connect(self.location, read_consistency_interval=timedelta(0), **kw)
            return self._db

    @property
    def table(self):
        if self._table is None:
            if self._read_binding() is None:
                raise InvalidInput(f"the store at {self.location} is empty; run `omniembed index DIR` first")
            with self._open_lock:
                if self._table is None:  # (reading a remote binding opened it already)
                    self._table = self._connect().open_table(_TABLE)
        return self._table

    # --- writes ---------------------------------------------------------------------------------
    def _arrow(self, records: Sequence[Record]):
        import pyarrow as pa

        schema = self.table.schema
        dims = schema.field("vector").type.list_size
        cols: dict[str, list] = {name: [] for name in schema.names}
        for r in records:
            p = r.payload()
            cols["id"].append(r.id)
            for name in schema.names:
                if name in ("id", "vector"):
                    continue
                cols[name].append(p[name])
        vecs = np.asarray([r.vector for r in records], dtype=np.float32).reshape(len(records), dims)
        arrays = []
        for name in schema.names:
            if name == "vector":
                arrays.append(pa.FixedSizeListArray.from_arrays(pa.array(vecs.ravel()), dims))
            else:
                arrays.append(pa.array(cols[name], type=schema.field(name).type))
        return pa.Table.from_arrays(arrays, schema=schema)

    def _indexes(self) -> dict[str, object]:
        """Index name → LanceDB's IndexConfig, for the indexes this table has."""
        return {ix.name: ix for ix in self.table.list_indices()}

    def _indexed_columns(self) -> dict[str, str]:
        return {ix.columns[0]: str(ix.index_type) for ix in self.table.list_indices() if ix.columns}

    def ensure_indexes(self, *, ann: bool | None = None) -> list[str]:
        """Create the indexes a table of this size should have and does not; returns what was built.

        Scalar and full-text indexes are built as soon as there are rows (they are cheap and make every
        delete and filter use an index); the vector index once there are :data:`ANN_MIN_ROWS` records, or
        at once with ``ann=True`` (``False``: never)."""
        import_lancedb()
        from lancedb.index import FTS, BTree, Bitmap

        n = self.table.count_rows()
        if n == 0:
            return []
        have = self._indexed_columns()
        built = []
        for col, kind in _SCALAR.items():
            if col not in have:
                self.table.create_index(col, config=BTree() if kind == "BTREE" else Bitmap(), replace=True)
                built.append(f"{col}:{kind}")
        if "text" not in have:
            # English stemming and stop words help English queries; other languages' words are matched
            # as written (no German plurals joined), and CJK text, written without spaces, is one token
            # per clause: keyword search finds little there (docs/search.md, "Limits of the keyword
            # half"). ASCII folding makes "Datenträger" match "datentrager".
            self.table.create_index("text", config=FTS(), replace=True)
            built.append("text:FTS")
        if "vector" not in have and ann is not False and (ann or n >= ANN_MIN_ROWS) and n >= _ANN_FLOOR:
            self.build_ann()
            built.append(f"vector:{ANN_INDEX}")
        return built

    def build_ann(self, kind: str | None = None) -> None:
        """(Re)build the vector index from scratch: ``IVF_SQ`` (the default :data:`ANN_INDEX`: cosine, ~√n
        partitions, one byte per dimension), ``IVF_PQ`` (8-bit codes of 4-dim sub-vectors) or
        ``IVF_HNSW_SQ`` (√n/8 partitions, each an HNSW graph). See the module docstring for why IVF-SQ."""
        import_lancedb()
        from lancedb.index import IvfHnswSq, IvfPq, IvfSq

        n = self.table.count_rows()
        if n < _ANN_FLOOR:
            raise InvalidInput(f"a vector index needs at least {_ANN_FLOOR} records; this store has {n}")
        dims = self.table.schema.field("vector").type.list_size
        parts = ivf_partitions(n)
        sub = dims // 4 if dims % 4 == 0 else dims // 2 if dims % 2 == 0 else dims
        kind = (kind or ANN_INDEX).upper()
        # k-means on a sample of 64 rows per partition, 20 iterations: the partitions come out as good
        # for search as with LanceDB's defaults (256, 50) at a fraction of the training time
        train = dict(distance_type="cosine", max_iterations=20, sample_rate=64)
        if kind == "IVF_PQ":
            config = IvfPq(num_partitions=parts, num_sub_vectors=sub, **train)
        elif kind == "IVF_SQ":
            config = IvfSq(num_partitions=parts, **train)
        elif kind == "IVF_HNSW_SQ":  # fewer, bigger partitions: each holds an HNSW graph
            config = IvfHnswSq(num_partitions=max(1, parts // 8), **train)
        else:
            raise InvalidInput(f"unknown vector index type {kind!r}: IVF_PQ, IVF_SQ or IVF_HNSW_SQ")
        self.table.create_index("vector", config=config, replace=True)

    def index_status(self) -> dict:
        """Rows per level and, per index, its type and how many rows it covers (``omniembed status``)."""
        if self._read_binding() is None:
            return {"records": 0, "files": 0, "chunks": 0, "indexes": []}
        t = self.table
        out = {"records": t.count_rows(), "files": self.count("file"), "chunks": self.count("chunk"),
               "ann_min_rows": ANN_MIN_ROWS, "indexes": []}
        for ix in t.list_indices():
            st = t.index_stats(ix.name)
            out["indexes"].append({
                "name": ix.name, "column": ix.columns[0] if ix.columns else "", "type": str(ix.index_type),
                "indexed_rows": int(st.num_indexed_rows) if st else None,
                "unindexed_rows": int(st.num_unindexed_rows) if st else None,
                "distance": getattr(st, "distance_type", None),
            })  # fmt: skip
        return out

    def replace_file(self, file_id: str, records: Sequence[Record]) -> None:
        ordered = sorted(records, key=lambda r: r.level == "file")  # file record last
        data = self._arrow(ordered)
        self.table.delete(f"file_id = {_quote(file_id)}")
        self.table.add(data)  # one atomic commit: the chunks and the file record appear together

    def replace_files(self, files: Sequence[tuple[str, Sequence[Record]]]) -> None:
        """Every file's records in ONE commit (after one delete of the files' old records, skipped when
        none of them has any — a new file): two Lance commits per file made the store the largest cost
        of indexing small files (issue 15), and the many small fragments slowed the final compaction."""
        if not files:
            return
        ids = ", ".join(_quote(fid) for fid, _ in files)
        where = f"file_id IN ({ids})"
        if self.table.count_rows(where):
            self.table.delete(where)
        # file records last, as in replace_file (one atomic commit: they all appear together anyway)
        ordered = [r for _, recs in files for r in recs if r.level != "file"]
        ordered += [r for _, recs in files for r in recs if r.level == "file"]
        self.table.add(self._arrow(ordered))

    def delete_file(self, file_id: str) -> None:
        self.table.delete(f"file_id = {_quote(file_id)}")

    def touch_file(self, file_id: str, size: int, mtime_ns: int) -> None:
        self.table.update(
            where=f"file_id = {_quote(file_id)} AND level = 'file'",
            values={"size": int(size), "mtime_ns": int(mtime_ns)},
        )

    def optimize(self, *, reindex_ann: bool = False) -> None:
        """Compact, fold new rows into the existing indexes, and build indexes the table now needs.

        ``reindex_ann=True`` rebuilds (retrains) the vector index from scratch — worth it after the
        archive grew several-fold, since the partitions were trained on the old rows."""
        try:
            # keep recent versions: a search page may still be reading one of them
            self.table.optimize(cleanup_older_than=timedelta(minutes=10))
        except Exception:  # compaction is an optimisation; a failure must not fail the index run
            pass
        built = self.ensure_indexes(ann=True if reindex_ann else None)
        if reindex_ann and not any(b.startswith("vector:") for b in built) and "vector" in self._indexed_columns():
            self.build_ann()

    # --- reads ----------------------------------------------------------------------------------
    def _rows(self, where: str, columns: list[str] | None = None) -> list[dict]:
        q = self.table.search().where(where).limit(None)
        if columns:
            q = q.select(columns)
        return q.to_arrow().to_pylist()

    def files(self, root: str | None = None) -> dict[str, FileEntry]:
        if self._read_binding() is None:
            return {}
        where = "level = 'file'" + (f" AND root = '{_sql_str(root)}'" if root is not None else "")
        cols = ["file_id", "root", "path", "modality", "sha256", "size", "mtime_ns", "n_chunks"]
        # the manifest columns only (no vectors, no snippets), straight from Arrow columns: 50k files in
        # ~0.1 s where building a Record per row took 5x longer
        t = self.table.search().where(where).select(cols).limit(None).to_arrow()
        data = {c: t.column(c).to_pylist() for c in cols}
        return {
            fid: FileEntry(fid, data["root"][i], data["path"][i], data["modality"][i], data["sha256"][i],
                           int(data["size"][i]), int(data["mtime_ns"][i]), int(data["n_chunks"][i]))
            for i, fid in enumerate(data["file_id"])
        }  # fmt: skip

    def prune_orphans(self) -> int:
        """Nothing to prune in LanceDB: :meth:`replace_file` writes a file's chunks and its file record
        in one atomic commit and deletes in one, so a crash never leaves chunks without their file
        record. (Scanning every chunk's ``file_id`` to check took ~3 s per run at 1 M records.)"""
        return 0

    def _chunk_file_ids(self) -> set[str]:
        if self._read_binding() is None:
            return set()
        return {r["file_id"] for r in self._rows("level = 'chunk'", ["file_id", "level"])}

    def search(
        self,
        vector: np.ndarray,
        k: int,
        *,
        level: str | None = None,
        modalities: Iterable[str] | None = None,
    ) -> list[StoreHit]:
        native = self._reader()
        where = _where(level, modalities)
        if native is not None:
            rows = native.vector_search(vector, k, _HIT_COLUMNS + ["_distance"], where,
                                        nprobes=nprobes_for(self._row_count(native.count_rows)),
                                        refine_factor=REFINE_FACTOR)
        else:
            q = (self.table.search(np.asarray(vector, dtype=np.float32)).distance_type("cosine")
                 .nprobes(nprobes_for(self._row_count(self.table.count_rows))).refine_factor(REFINE_FACTOR)
                 .limit(int(k)).select(_HIT_COLUMNS + ["_distance"]))  # fmt: skip
            if where:
                q = q.where(where, prefilter=True)
            rows = q.to_arrow()
        return _hits(rows.to_pylist(), "_distance", lambda d: 1.0 - d)

    def _row_count(self, count_rows) -> int:
        """The table's row count (``count_rows()`` of the read path in use), re-read at most every
        :data:`_ROWS_TTL_S` seconds."""
        now = time.monotonic()
        if self._rows_seen is None or now - self._rows_seen[0] > _ROWS_TTL_S:
            self._rows_seen = (now, int(count_rows()))
        return self._rows_seen[1]

    def search_text(
        self,
        query: str,
        k: int,
        *,
        level: str | None = None,
        modalities: Iterable[str] | None = None,
    ) -> list[StoreHit]:
        """BM25 over LanceDB's full-text index (built here once for a store indexed before it existed)."""
        native = self._reader()
        if native is not None:
            # per query, the row count is the cached one unless it says empty (at 1 M rows count_rows and
            # indexed_columns cost ~0.4 and ~0.6 ms; an index, once there, is not dropped by a write)
            if not query.strip() or (self._row_count(native.count_rows) == 0 and native.count_rows() == 0):
                return []
            if not self._text_indexed:
                if "text" not in native.indexed_columns():
                    self.ensure_indexes(ann=False)
                self._text_indexed = True
            rows = native.text_search(query, "text", k, _HIT_COLUMNS + ["_score"], _where(level, modalities))
        else:
            import_lancedb()
            from lancedb.query import MatchQuery

            if not query.strip() or self._read_binding() is None or self.table.count_rows() == 0:
                return []
            if "text" not in self._indexed_columns():
                self.ensure_indexes(ann=False)
            q = self.table.search(MatchQuery(query, "text"), query_type="fts").limit(int(k)).select(_HIT_COLUMNS + ["_score"])
            where = _where(level, modalities)
            if where:
                q = q.where(where, prefilter=True)
            rows = q.to_arrow()
        return _hits(rows.to_pylist(), "_score", float)

    def records(self, level: str = "file", with_vectors: bool = True) -> list[Record]:
        if self._read_binding() is None:
            return []
        rows = self._rows(f"level = {_quote(level)}", None if with_vectors else _RECORD_COLUMNS)
        out = []
        for row in rows:
            vec = np.asarray(row.pop("vector"), dtype=np.float32) if with_vectors else None
            row.pop("vector", None)
            out.append(Record.from_payload(row, vec))
        return out

    def count(self, level: str | None = None) -> int:
        if self._read_binding() is None:
            return 0
        return int(self.table.count_rows(f"level = {_quote(level)}" if level else None))

    def close(self) -> None:
        if self._prefetch is not None:
            self._prefetch.join()
            self._prefetch = None
        if isinstance(self._native, NativeTable):
            self._native.close()
        self._native = None
        self._table = None
        self._db = None
        self._binding = None
        self._text_indexed = False
