"""Search an indexed folder by text, image, audio or any file, and point into the media.

A query is embedded in the store's own profile and size, then compared with both the *file* vectors
(each file's pooled content) and the *chunk* vectors (pages, OCR'd images, transcript windows, text
chunks). A file's score is the better of its file score and its best chunk score — a query that
matches one page of a long PDF is not drowned by the other pages — and the best chunk gives the hit its
page, start/end seconds and snippet.

Three modes (``mode=``, ``omniembed search --mode``):

* ``dense`` — the vectors only: one nearest-neighbour query over file and chunk records together (one
  scan, or one ANN probe once the store has a vector index);
* ``keyword`` — BM25 over the chunk and file texts (the store's full-text index): exact identifiers,
  error codes, part numbers, rare names;
* ``hybrid`` — both lists fused by reciprocal rank fusion (RRF, ``k=60``) per file, each list weighted
  (``weights=(dense, keyword)``, default equal). The default mode is chosen by measurement: see
  docs/search.md (D4 and the keyword query set, ``bench/eval_search.py``).

>>> from omniembed.search import Searcher
>>> s = Searcher(".omniembed/store")
>>> for hit in s.search("where did we discuss the compressor noise?", k=5):
...     print(hit.path, hit.locator, round(hit.score, 3), hit.snippet)
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from .errors import InvalidInput
from .modalities import modality_names
from .store.base import Record, Store, StoreHit
from .types import Part, Piece, to_part

__all__ = ["Searcher", "SearchHit", "MODES", "DEFAULT_MODE", "RRF_K", "make_snippet", "rrf"]

MODES = ("dense", "keyword", "hybrid")
#: See docs/search.md "Hybrid search" for the measurement behind this choice.
DEFAULT_MODE = "hybrid"
#: The RRF constant of Cormack et al. (2009): ranks past ~60 contribute little, ties near the top matter.
RRF_K = 60


@dataclass
class SearchHit:
    """One ranked result: a file, and where in it the best match is."""

    path: str  # absolute path of the file
    rel_path: str  # relative to the indexed folder
    root: str
    file_id: str
    modality: str
    score: float
    page: int | None = None
    start_s: float | None = None
    end_s: float | None = None
    snippet: str = ""
    source: str = ""  # what the snippet is: text, text-layer, ocr, asr
    chunk: int = -1  # the best chunk's index (-1: the file vector matched best)
    file_score: float = 0.0
    chunk_score: float = 0.0

    @property
    def locator(self) -> str:
        """``p.3``, ``0:12–0:20`` or ``''`` (the same labels as :meth:`omniembed.Piece.locator`)."""
        return Piece(np.zeros(0), self.modality, "", page=self.page, start_s=self.start_s, end_s=self.end_s).locator()

    def to_dict(self) -> dict:
        d = asdict(self)
        d["locator"] = self.locator
        d["score"] = round(float(self.score), 6)
        d["file_score"] = round(float(self.file_score), 6)
        d["chunk_score"] = round(float(self.chunk_score), 6)
        return d


_WORD = re.compile(r"\w{3,}", re.UNICODE)


def make_snippet(text: str, query: str | None, width: int = 220) -> str:
    """A window of ``text`` around the first query word it contains (or its start), on one line."""
    flat = " ".join(text.split())
    if len(flat) <= width:
        return flat
    start = 0
    if query:
        low = flat.lower()
        positions = [low.find(w.lower()) for w in _WORD.findall(query)]
        positions = [p for p in positions if p >= 0]
        if positions:
            start = max(0, min(positions) - width // 4)
    cut = flat[start : start + width]
    return ("…" if start else "") + cut + ("…" if start + width < len(flat) else "")


def _as_query_part(query) -> Part:
    if isinstance(query, str) and not query.strip():
        raise InvalidInput("empty query")
    if not isinstance(query, (Part, str, bytes, bytearray, os.PathLike)):
        raise InvalidInput(f"cannot search with a {type(query).__name__}: pass text, a Path, bytes or a Part")
    return to_part(query, "query")


class Searcher:
    """Ranked search over a store built by :class:`omniembed.indexer.Indexer`.

    Args:
        store: a :class:`~omniembed.store.Store` or a store spec (see :func:`omniembed.store.open_store`).
        embedder: an :class:`omniembed.Embedder` of the store's profile (default: a new one).
        profile: the profile to build that embedder from when none is given (default: the store's) —
            a store indexed with a model-directory profile records its id, so pass the directory.
    """

    def __init__(self, store: Store | str | os.PathLike[str] | None = None, embedder=None, profile=None):
        from .store import open_store

        self.store = store if isinstance(store, Store) else open_store(store)
        self.info = self.store.require_info()  # from the store's metadata file: no client library yet
        # the store's client library (LanceDB: seconds to import) loads while the embedder loads and
        # embeds the query: `omniembed search` then starts about as fast as `omniembed embed`
        self.store.prefetch()
        if embedder is None:
            from .embedder import Embedder
            from .errors import InvalidInput

            try:
                embedder = Embedder(profile if profile is not None else self.info.profile)
            except InvalidInput:
                if profile is not None:
                    raise
                raise InvalidInput(
                    f"the store at {self.info.location} holds vectors of {self.info.profile}, a profile made from "
                    "a model directory: name that directory (--profile DIR, or Searcher(store, profile=DIR))"
                ) from None
        if embedder.profile.id != self.info.profile:
            from .errors import ProfileMismatch

            raise ProfileMismatch(
                f"the store at {self.info.location} holds {self.info.profile} vectors; queries embedded with "
                f"{embedder.profile.id} cannot be compared with them (use --profile {self.info.profile}, or re-index)"
            )
        self.embedder = embedder

    def embed_query(self, query) -> np.ndarray:
        """Text → a ``query:`` vector; a file or bytes (image, audio, PDF…) → its content vector."""
        part = _as_query_part(query)
        task = "RETRIEVAL_QUERY" if part.text is not None else "SEMANTIC_SIMILARITY"
        dims = None if self.info.dims == self.embedder.dimensions else self.info.dims
        return self.embedder.embed([[part]], task_type=task, output_dimensionality=dims)[0]

    def _hybrid_lists(self, query, vector, text: str, n: int, level: str | None,
                      mods: list[str]) -> tuple[list[StoreHit], list[StoreHit]]:
        """The dense and keyword lists of a hybrid search. Where the store allows it
        (``concurrent_reads``), the keyword list is read in a second thread while the dense one is: at
        1 M records (quiet machine, 40 queries alternating) hybrid p50 64.9 → 51.9 ms with the vector
        given, 91.6 → 81.3 ms with the text embedded. The query is embedded first, alone: e5 uses both
        cores, and reading the keyword list during it cost as much as it saved (90.7 vs 92.3 ms)."""
        qv = self.embed_query(query) if vector is None else np.asarray(vector, np.float32)
        if not self.store.concurrent_reads:
            return (self.store.search(qv, n, level=level, modalities=mods),
                    self.store.search_text(text, n, level=level, modalities=mods))
        with ThreadPoolExecutor(1, thread_name_prefix="omniembed-keyword") as pool:
            keyword = pool.submit(self.store.search_text, text, n, level=level, modalities=mods)
            return self.store.search(qv, n, level=level, modalities=mods), keyword.result()

    def search(
        self,
        query,
        k: int = 10,
        *,
        modalities: Iterable[str] | None = None,
        chunks: bool = False,
        vector: np.ndarray | None = None,
        mode: str | None = None,
        weights: tuple[float, float] = (1.0, 1.0),
    ) -> list[SearchHit]:
        """The ``k`` best files for ``query`` (text, a ``Path``, bytes or a ``Part``).

        ``modalities`` keeps only files of those types (``pdf``, ``image``, ``audio``, ``video``,
        ``text``); ``chunks=True`` returns the best chunks instead (several per file possible).
        ``mode`` is ``dense``, ``keyword`` or ``hybrid`` (default :data:`DEFAULT_MODE`); ``weights`` are
        the (dense, keyword) weights of the hybrid fusion. A query by media has no words to match, so
        ``hybrid`` falls back to ``dense`` for it and ``keyword`` refuses it."""
        if k < 1:
            raise InvalidInput("k must be at least 1")
        mode = mode or DEFAULT_MODE
        if mode not in MODES:
            raise InvalidInput(f"unknown search mode {mode!r}; choose from {', '.join(MODES)}")
        if len(weights) != 2 or min(weights) < 0 or max(weights) <= 0:
            raise InvalidInput("weights are two non-negative numbers (dense, keyword), not both zero")
        mods = list(modalities or [])
        known = modality_names()  # the modality table
        bad = [m for m in mods if m not in known]
        if bad:
            raise InvalidInput(f"unknown type {bad[0]!r}; choose from {', '.join(known)}")
        text = query if isinstance(query, str) else None
        if text is None and isinstance(query, Part) and query.text is not None:
            text = query.text
        if mode == "keyword" and not text:
            raise InvalidInput("keyword search needs a text query; search by media with --mode dense")
        if mode == "hybrid" and not (text and self.store.keyword_search):
            mode = "dense"  # a media query, or a store without a full-text index (Qdrant)
        level = "chunk" if chunks else None
        dense: list[StoreHit] = []
        keyword: list[StoreHit] = []
        if mode == "hybrid":
            # the fusion ranks files by their places in BOTH lists, so each list goes as deep as it did
            # when the default was measured on D4 and the keyword set (docs/search.md)
            n = _hybrid_depth(k)
            dense, keyword = self._hybrid_lists(query, vector, text or "", n, level, mods)
        else:
            if mode == "dense":
                qv = self.embed_query(query) if vector is None else np.asarray(vector, np.float32)

            # one list: its first k files are the same whatever its depth, so ask for few records and
            # more only when they hold fewer than k files (at 1 M records, 130 records cost 2x the time of 20)
            def fetch(n: int) -> list[StoreHit]:
                if mode == "keyword":
                    return self.store.search_text(text or "", n, level=level, modalities=mods)
                return self.store.search(qv, n, level=level, modalities=mods)

            got = _fill(fetch, k, files=not chunks)
            if mode == "dense":
                dense = got
            else:
                keyword = got
        if chunks:
            if mode == "hybrid":
                ranked = rrf([[h.record.id for h in dense], [h.record.id for h in keyword]], weights)
                by_id = {h.record.id: h for h in keyword + dense}
                return [self._hit(by_id[rid].record, by_id[rid], None, text, score) for score, rid in ranked[:k]]
            return [self._hit(h.record, h, None, text) for h in (dense or keyword)[:k]]
        d_files = _per_file(dense)
        k_files = _per_file(keyword)
        if mode == "hybrid":
            # already in rrf's order: a tie goes to the dense ranking. Re-sorting here by (score, file id)
            # gave it to the file id, a hash of the folder's path (a test failed or passed by tmp dir name)
            ranked = rrf([list(d_files), list(k_files)], weights)
        else:
            one = d_files if mode == "dense" else k_files
            ranked = [(best_score, fid) for fid, (best_score, _, _) in one.items()]
            ranked.sort(key=lambda t: (-t[0], t[1]))
        d_rank = {fid: r for r, fid in enumerate(d_files)}
        k_rank = {fid: r for r, fid in enumerate(k_files)}
        out = []
        for score, fid in ranked[:k]:
            # the locator and snippet come from the list that ranks the file higher, the keyword list on
            # a tie (its best chunk has the query's exact words)
            use_kw = fid in k_rank and (fid not in d_rank or k_rank[fid] <= d_rank[fid])
            _, chunk, file = k_files[fid] if use_kw else d_files[fid]
            rec = (chunk or file).record  # type: ignore[union-attr]
            out.append(self._hit(rec, chunk, file, text, score))
        return out

    def _hit(self, rec: Record, chunk: StoreHit | None, file: StoreHit | None, query: str | None,
             score: float | None = None) -> SearchHit:
        is_chunk = rec.level == "chunk"
        return SearchHit(
            path=str(Path(rec.root) / rec.path),
            rel_path=rec.path,
            root=rec.root,
            file_id=rec.file_id,
            modality=rec.modality,
            score=float(score if score is not None else (chunk.score if chunk else file.score if file else 0.0)),
            page=rec.page if is_chunk else None,
            start_s=rec.start_s if is_chunk else None,
            end_s=rec.end_s if is_chunk else None,
            snippet=make_snippet(rec.text, query),
            source=rec.source,
            chunk=rec.chunk,
            file_score=float(file.score) if file else 0.0,
            chunk_score=float(chunk.score) if chunk else 0.0,
        )

    def close(self) -> None:
        self.store.close()


def _hybrid_depth(k: int) -> int:
    """Records per list in hybrid mode: as many as the two former scans returned (chunks + files)."""
    return max(k * 10, 50) + max(k * 3, 30)


#: First depth of a single-list search, in records per result wanted (then x4 while too few files).
FIRST_DEPTH = 2
MIN_DEPTH = 20


def _fill(fetch, k: int, *, files: bool) -> list[StoreHit]:
    """The shortest prefix of a ranked record list that holds the best ``k`` files (``files``) or ``k``
    records: ``fetch(n)`` returns the best ``n`` records; asked for ``max(2k, 20)`` first, then four
    times more until the prefix holds ``k`` files and ends below the ``k``-th file's score (a file not
    fetched cannot tie with it), or the list ends. The first ``k`` files of a ranked list do not depend
    on how far it goes, so the result equals that of one deep query."""
    n = k if not files else max(FIRST_DEPTH * k, MIN_DEPTH)
    while True:
        hits = fetch(n)
        if not files or len(hits) < n:
            return hits
        seen: set[str] = set()
        for h in hits:
            if h.record.file_id not in seen:
                seen.add(h.record.file_id)
                if len(seen) == k:
                    if hits[-1].score < h.score:
                        return hits
                    break
        n *= 4


def _per_file(hits: Sequence[StoreHit]) -> dict[str, tuple[float, StoreHit | None, StoreHit | None]]:
    """file id → (best score over its records, best chunk hit, file hit), in the list's order of first
    appearance, which is the files' rank: a file scores as well as its best-matching record."""
    out: dict[str, list] = {}
    for h in hits:
        e = out.setdefault(h.record.file_id, [h.score, None, None])
        e[0] = max(e[0], h.score)
        if h.record.level == "file":
            e[2] = e[2] or h
        else:
            e[1] = e[1] or h
    return {fid: (e[0], e[1], e[2]) for fid, e in sorted(out.items(), key=lambda kv: -kv[1][0])}


def rrf(lists: Sequence[Sequence[str]], weights: Sequence[float] = (1.0, 1.0), k: int = RRF_K) -> list[tuple[float, str]]:
    """Reciprocal rank fusion: ``score(d) = Σ_i w_i / (k + rank_i(d))`` (rank from 1), best first.

    Ties — common: two documents ranked 1st and 2nd by one list and 2nd and 1st by the other score the
    same — go to the document the FIRST list ranks higher (the dense ranking), then by key; scores are
    compared rounded, since the same two terms added in another order can differ in the last bit."""
    scores: dict[str, float] = {}
    first: dict[str, int] = {}
    for li, (ids, w) in enumerate(zip(lists, weights)):
        for r, key in enumerate(ids, 1):
            scores[key] = scores.get(key, 0.0) + float(w) / (k + r)
            if li == 0:
                first.setdefault(key, r)
    return sorted(((v, key) for key, v in scores.items()),
                  key=lambda t: (-round(t[0], 12), first.get(t[1], len(first) + 1), t[1]))


def hits_to_json(hits: Sequence[SearchHit]) -> list[dict]:
    return [h.to_dict() for h in hits]
