"""LanceDB backend (the default): an embedded, on-disk columnar store in one directory.

Layout of a store directory::

    STORE/store.json          {"backend": "lancedb", "profile": "omniembed-lite-1", "dims": 384, "format": 1}
    STORE/records.lance/      every file and chunk record (one table)

Each write is one Lance commit, and Lance commits are atomic: a killed process leaves at most
unreferenced data files behind, never a half-visible write.
"""

from __future__ import annotations

import json
import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..errors import InvalidInput, MissingDependency
from .base import FileEntry, Record, Store, StoreHit, entry_from_record

__all__ = ["LanceStore"]

_TABLE = "records"
_META = "store.json"
_SAFE = re.compile(r"^[A-Za-z0-9_.:-]+$")


def _quote(value: str) -> str:
    if not _SAFE.match(value):  # ids and modality names only; never user text
        raise InvalidInput(f"invalid identifier in a store filter: {value!r}")
    return f"'{value}'"


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


class LanceStore(Store):
    """Records in a LanceDB table under ``path`` (created on first :meth:`bind`)."""

    backend = "lancedb"

    def __init__(self, path: str | os.PathLike[str]):
        try:
            import lancedb  # noqa: F401
        except ImportError:
            raise MissingDependency("the LanceDB store needs: pip install 'omniembed[store]'") from None
        self.path = Path(path).expanduser().resolve()
        self._db = None
        self._table = None

    @property
    def location(self) -> str:
        return str(self.path)

    # --- binding --------------------------------------------------------------------------------
    def _read_binding(self) -> tuple[str, int] | None:
        meta = self.path / _META
        if not meta.is_file():
            return None
        data = json.loads(meta.read_text("utf-8"))
        if data.get("backend", self.backend) != self.backend:
            raise InvalidInput(f"{self.path} is a {data.get('backend')} store, not a LanceDB store")
        return str(data["profile"]), int(data["dims"])

    def _create(self, profile: str, dims: int) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        db = self._connect()
        if _TABLE not in db.list_tables().tables:
            db.create_table(_TABLE, schema=_schema(dims))
        tmp = self.path / (_META + ".tmp")
        tmp.write_text(
            json.dumps({"backend": self.backend, "profile": profile, "dims": int(dims), "format": 1}, indent=1),
            "utf-8",
        )
        os.replace(tmp, self.path / _META)  # the binding appears atomically, after the table exists
        self._table = None

    def _connect(self):
        if self._db is None:
            import lancedb

            # read_consistency_interval=0: every read sees the latest commit, so a search page served
            # while an indexer runs shows new files without a restart.
            self._db = lancedb.connect(str(self.path), read_consistency_interval=timedelta(0))
        return self._db

    @property
    def table(self):
        if self._table is None:
            if self._read_binding() is None:
                raise InvalidInput(f"the store at {self.path} is empty; run `omniembed index DIR` first")
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

    def replace_file(self, file_id: str, records: Sequence[Record]) -> None:
        ordered = sorted(records, key=lambda r: r.level == "file")  # file record last
        data = self._arrow(ordered)
        self.table.delete(f"file_id = {_quote(file_id)}")
        self.table.add(data)  # one atomic commit: the chunks and the file record appear together

    def delete_file(self, file_id: str) -> None:
        self.table.delete(f"file_id = {_quote(file_id)}")

    def touch_file(self, file_id: str, size: int, mtime_ns: int) -> None:
        self.table.update(
            where=f"file_id = {_quote(file_id)} AND level = 'file'",
            values={"size": int(size), "mtime_ns": int(mtime_ns)},
        )

    def optimize(self) -> None:
        try:
            # keep recent versions: a search page may still be reading one of them
            self.table.optimize(cleanup_older_than=timedelta(minutes=10))
        except Exception:  # compaction is an optimisation; a failure must not fail the index run
            pass

    # --- reads ----------------------------------------------------------------------------------
    def _rows(self, where: str, columns: list[str] | None = None) -> list[dict]:
        q = self.table.search().where(where).limit(None)
        if columns:
            q = q.select(columns)
        return q.to_list()

    def files(self, root: str | None = None) -> dict[str, FileEntry]:
        if self._read_binding() is None:
            return {}
        where = "level = 'file'"
        cols = ["file_id", "root", "path", "level", "modality", "sha256", "size", "mtime_ns", "n_chunks"]
        out = {}
        for row in self._rows(where, cols):
            if root is not None and row["root"] != root:
                continue
            out[row["file_id"]] = entry_from_record(Record.from_payload(row))
        return out

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
        conds = []
        if level:
            conds.append(f"level = {_quote(level)}")
        mods = list(modalities or [])
        if mods:
            conds.append(f"modality IN ({', '.join(_quote(m) for m in mods)})")
        q = self.table.search(np.asarray(vector, dtype=np.float32)).metric("cosine").limit(int(k))
        if conds:
            q = q.where(" AND ".join(conds), prefilter=True)
        hits = []
        for row in q.to_list():
            dist = float(row.pop("_distance"))
            vec = np.asarray(row.pop("vector"), dtype=np.float32)
            hits.append(StoreHit(Record.from_payload(row, vec), 1.0 - dist))
        return hits

    def records(self, level: str = "file", with_vectors: bool = True) -> list[Record]:
        if self._read_binding() is None:
            return []
        rows = self._rows(f"level = {_quote(level)}")
        out = []
        for row in rows:
            vec = np.asarray(row.pop("vector"), dtype=np.float32) if with_vectors else None
            out.append(Record.from_payload(row, vec))
        return out

    def count(self, level: str | None = None) -> int:
        if self._read_binding() is None:
            return 0
        return int(self.table.count_rows(f"level = {_quote(level)}" if level else None))

    def close(self) -> None:
        self._table = None
        self._db = None
