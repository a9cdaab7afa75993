"""eval-dev embedder that memoises the expensive steps, to compare fusion rules before/after cheaply.

    cd <worktree> && .venv/bin/python ../shared/eval-dev/run.py --embedder bench.cached_eval:CachedOmniembed --tasks d2,d4
    .venv/bin/python -c "import bench.cached_eval as c, bench.eval_search as s; c.install(); s.main()"

Exactly ``omniembed.Embedder().embed`` (the runner's ``omniembed`` adapter), except that two pure
functions are memoised on disk (``.omniembed/evalcache.sqlite``): media extraction (``engine.extract_many``:
PDF text layer, OCR, ASR, keyed by each file's bytes) and e5 (keyed by mode and text). Chunking, pooling, fusion and
the Matryoshka projection run for real on every call, so a second run after a change to fusion
scores the new rule on the same evidence in minutes instead of re-running OCR, Whisper and e5 on a
shared, loaded machine. Not for changes to extraction or the encoder: clear the cache for those.
"""

from __future__ import annotations

import hashlib
import pickle
import sqlite3
import threading
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DB = ROOT / ".omniembed" / "evalcache.sqlite"


class _Cache:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path), check_same_thread=False, timeout=120)
        self.db.execute("CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v BLOB)")
        self.lock = threading.Lock()

    def get(self, key: str):
        with self.lock:
            row = self.db.execute("SELECT v FROM kv WHERE k = ?", (key,)).fetchone()
        return None if row is None else pickle.loads(row[0])

    def put(self, key: str, value) -> None:
        with self.lock:
            self.db.execute("INSERT OR REPLACE INTO kv VALUES (?, ?)", (key, pickle.dumps(value)))
            self.db.commit()


def install(db: str | Path | None = None) -> None:
    """Memoise media extraction and e5 in this process (idempotent)."""
    import omniembed.engine as engine_mod
    from omniembed.encoders.e5 import E5Encoder

    if getattr(engine_mod.extract_many, "_cached", False):
        return
    cache = _Cache(Path(db) if db else DB)
    real_extract_many = engine_mod.extract_many

    def extract_many(srcs, ctx):
        keys = ["x:" + hashlib.sha1(src.read()).hexdigest() for src in srcs]
        got = [cache.get(k) for k in keys]
        todo = [i for i, g in enumerate(got) if g is None]
        if todo:
            for i, ev in zip(todo, real_extract_many([srcs[i] for i in todo], ctx)):
                got[i] = ev
                if not isinstance(ev, Exception):  # errors are not memoised
                    cache.put(keys[i], ev)
        return got

    extract_many._cached = True  # type: ignore[attr-defined]
    engine_mod.extract_many = extract_many
    real_encode = E5Encoder.encode

    def encode(self, texts, mode):
        keys = ["e:" + hashlib.sha1(f"{mode}\0{t}".encode()).hexdigest() for t in texts]
        got = [cache.get(k) for k in keys]
        todo = [i for i, g in enumerate(got) if g is None]
        if todo:
            vecs = real_encode(self, [texts[i] for i in todo], mode)
            for i, v in zip(todo, vecs):
                got[i] = np.asarray(v, np.float32)
                cache.put(keys[i], got[i])
        return np.stack(got).astype(np.float32) if got else np.zeros((0, self.dim), np.float32)

    E5Encoder.encode = encode


class CachedOmniembed:
    """The runner's ``omniembed`` adapter with :func:`install` applied."""

    TASK_TYPES = {"query": "RETRIEVAL_QUERY", "document": "RETRIEVAL_DOCUMENT"}

    def __init__(self, db: str | None = None, **fusion):
        """``fusion``: FusionConfig fields to try (``--embedder-arg channel_power=0.5``); none = the defaults."""
        import omniembed

        install(db)
        self.embedder = omniembed.Embedder(fusion=omniembed.FusionConfig(**fusion) if fusion else None)

    def __call__(self, items, task, dims):
        kw = {"task_type": self.TASK_TYPES[task]}
        if dims:
            kw["output_dimensionality"] = int(dims)
        return np.asarray(self.embedder.embed(list(items), **kw), np.float32)
