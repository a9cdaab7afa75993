"""Search and indexing at scale: latency, recall@10, index build time, disk size, no-change re-index.

    .venv/bin/python -m bench.bench_scale                          # 10k and 100k chunk records
    .venv/bin/python -m bench.bench_scale --sizes 10000,100000,1000000 --cli
    .venv/bin/python -m bench.bench_scale --sizes 100000 --index-type IVF_HNSW_SQ   # the other index type

For each size N a LanceDB store of N chunk records (20 per file, plus one file record per file) is
written directly (the embedding is not what is measured here), with *real* embedding vectors: real texts'
lite-profile vectors extended to N by the method in ``bench/scale_data.py``, and the same texts as the
records' snippets (so the full-text index sees real words). Then, in the same run:

* **today's scan** — the search before this change: two prefiltered exhaustive scans (chunks k=100,
  files k=30) returning every column, vectors included (a few queries only at 1 M: ~10 s each);
* **exact** — numpy matmul over all vectors: the ground truth for recall@10;
* **ANN** — the store as shipped: scalar, full-text and vector indexes built by
  ``LanceStore.ensure_indexes`` (build time, disk size), then ``Searcher.search`` (one ANN query over
  files and chunks, the query vector given, dense mode) p50/p99, and recall@10 of ``store.search(q, 10)``
  against exact top-10 over all records;
* **hybrid** — the same with BM25 fused in (the default mode), p50;
* **re-index, nothing changed** — ``Indexer.run`` over the folder whose files the file records describe;
* with ``--cli``: ``omniembed search`` as a subprocess (wall p50 and peak RSS, the query embedded by the
  real model).

The load average (1 min) is printed beside each figure: the machine is shared.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
PER_FILE = 20  # chunk records per file
MODS = ("text", "pdf", "image", "audio", "video")


def load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q)) * 1000


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def record_ids(folder: Path, n_chunks: int) -> list[str]:
    """The record ids :func:`build` writes, in vector order (recomputed for a reused store)."""
    from omniembed.store.base import file_id_for

    n_files = max(1, n_chunks // PER_FILE)
    root = str(folder.resolve())
    ids = []
    for f in range(n_files):
        fid = file_id_for(root, f"d{f // 1000:04d}/f{f:07d}.txt")
        per = PER_FILE if f < n_files - 1 else n_chunks - PER_FILE * (n_files - 1)
        ids.extend(f"{fid}:{c}" for c in range(per))
        ids.append(f"{fid}:f")
    return ids


def build(work: Path, n_chunks: int, vecs: np.ndarray, texts: list[str], reuse: bool = False) -> tuple[Path, Path, list[str], bool]:
    """Write the folder of tiny files and the store whose records describe them; returns (store, folder,
    record ids in vector order, whether a store built by an earlier run was reused).

    ``reuse``: keep a store an earlier ``--reuse`` run completed in the same work directory (the vectors
    are deterministic, so the exact top-10 is recomputed from them); building 1 M records takes minutes."""
    import pyarrow as pa

    from omniembed.store.lance import LanceStore

    n_files = max(1, n_chunks // PER_FILE)
    folder, store_dir = work / "files", work / "store"
    marker = work / "built.json"
    if reuse and marker.is_file() and json.loads(marker.read_text("utf-8")).get("chunks") == n_chunks:
        return store_dir, folder, record_ids(folder, n_chunks), True
    shutil.rmtree(work, ignore_errors=True)
    folder.mkdir(parents=True)
    root = str(folder.resolve())
    metas = []
    for f in range(n_files):
        sub = folder / f"d{f // 1000:04d}"
        if f % 1000 == 0:
            sub.mkdir()
        p = sub / f"f{f:07d}.txt"
        data = f"file {f}\n".encode()
        p.write_bytes(data)
        st = p.stat()
        metas.append((p.relative_to(folder).as_posix(), hashlib.sha256(data).hexdigest(), st.st_size, st.st_mtime_ns))
    store = LanceStore(store_dir)
    store.bind("omniembed-lite-1", vecs.shape[1])
    schema = store.table.schema
    dims = vecs.shape[1]
    from omniembed.store.base import file_id_for

    total = n_chunks + n_files
    ids: list[str] = []
    batch_files = 5000
    vi = 0
    for f0 in range(0, n_files, batch_files):
        f1 = min(n_files, f0 + batch_files)
        cols: dict[str, list] = {n: [] for n in schema.names if n != "vector"}
        rows_v = []
        for f in range(f0, f1):
            rel, sha, size, mtime = metas[f]
            fid = file_id_for(root, rel)
            per = PER_FILE if f < n_files - 1 else n_chunks - PER_FILE * (n_files - 1)
            for c in list(range(per)) + [-1]:
                cols["id"].append(f"{fid}:{'f' if c < 0 else c}")
                cols["file_id"].append(fid)
                cols["root"].append(root)
                cols["path"].append(rel)
                cols["level"].append("file" if c < 0 else "chunk")
                cols["modality"].append(MODS[f % len(MODS)])
                cols["chunk"].append(c)
                cols["mime"].append("text/plain")
                cols["page"].append(None)
                cols["start_s"].append(None)
                cols["end_s"].append(None)
                cols["source"].append("text")
                cols["text"].append(texts[vi % len(texts)])
                cols["sha256"].append(sha)
                cols["size"].append(size)
                cols["mtime_ns"].append(mtime)
                cols["n_chunks"].append(per if c < 0 else 0)
                cols["indexed_at"].append(0.0)
                rows_v.append(vi)
                vi += 1
        arrays = [
            pa.FixedSizeListArray.from_arrays(pa.array(vecs[rows_v].ravel()), dims) if n == "vector"
            else pa.array(cols[n], type=schema.field(n).type)
            for n in schema.names
        ]  # fmt: skip
        store.table.add(pa.Table.from_arrays(arrays, schema=schema))
        ids.extend(cols["id"])
    store.table.optimize()  # compact the batches, as an index run's end does
    store.close()
    assert vi == total == len(ids)
    assert ids == record_ids(folder, n_chunks)
    marker.write_text(json.dumps({"chunks": n_chunks, "records": total}), "utf-8")
    return store_dir, folder, ids, False


def legacy_search(table, qv: np.ndarray) -> None:
    """The search before this change: two prefiltered exhaustive scans returning every column."""
    for level, k in (("chunk", 100), ("file", 30)):
        table.search(qv).metric("cosine").limit(k).where(f"level = '{level}'", prefilter=True).bypass_vector_index().to_list()


def cli_search(store: Path, query: str, mode: str) -> tuple[float, int]:
    """Wall seconds and peak RSS (MB) of one `omniembed search` process."""
    # GNU time reports the peak RSS of the exec'd process itself (a forked child's own rusage would count
    # the pages it shared with this big benchmark process before exec)
    with tempfile.NamedTemporaryFile("r") as rss:
        t0 = time.perf_counter()
        proc = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss.name, str(ROOT / ".venv" / "bin" / "omniembed"),
                               "search", query, "--store", str(store), "--mode", mode, "--json", "-k", "10"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"omniembed search failed: {proc.stderr.decode()[-500:]}")
        return wall, int(rss.read().split()[-1]) // 1024


def run_size(n: int, base: np.ndarray, queries: np.ndarray, texts: list[str], args) -> dict:
    from omniembed.embedder import Embedder
    from omniembed.indexer import Indexer
    from omniembed.search import Searcher
    from omniembed.store.lance import LanceStore

    from .scale_data import extend

    res: dict = {"chunks": n}
    work = Path(args.workdir) / f"n{n}"
    n_files = max(1, n // PER_FILE)
    vecs = extend(base, n + n_files)
    t0 = time.perf_counter()
    store_dir, folder, ids_in_order, reused = build(work, n, vecs, texts, reuse=args.reuse)
    total = len(ids_in_order)
    res["records"] = total
    res["reused_store"] = reused
    print(f"[{n:,}] {'reused' if reused else 'wrote'} {total:,} records ({n_files:,} files) in "
          f"{time.perf_counter() - t0:.1f}s ({load()})", flush=True)

    store = LanceStore(store_dir)
    table = store.table
    nq_legacy = args.legacy_queries if n >= 500_000 else min(len(queries), 3 * args.legacy_queries)

    def time_legacy() -> float:
        legacy_search(table, queries[0])  # warm
        lat = []
        for q in queries[:nq_legacy]:
            t = time.perf_counter()
            legacy_search(table, q)
            lat.append(time.perf_counter() - t)
        return pct(lat, 50)

    res["legacy_p50_ms"] = time_legacy()
    where = "on the indexed store built by an earlier run" if reused else "before any index"
    print(f"[{n:,}] today's scan (2 prefiltered scans, {nq_legacy} queries, {where}): p50 "
          f"{res['legacy_p50_ms']:.0f} ms ({load()})", flush=True)

    qs = queries[: args.queries]
    t = time.perf_counter()
    sims = qs @ vecs.T
    exact = np.argpartition(-sims, 10, axis=1)[:, :10]
    t_np = (time.perf_counter() - t) / len(qs)
    res["numpy_ms"] = t_np * 1000
    exact_ids = [{ids_in_order[j] for j in row} for row in exact]
    del vecs

    t = time.perf_counter()
    built = store.ensure_indexes(ann=True) if args.index_type is None else None
    if args.index_type is not None:
        store.ensure_indexes(ann=False)
        store.build_ann(args.index_type)
        built = ["scalar+fts", f"vector:{args.index_type}"]
    res["index_build_s"] = time.perf_counter() - t
    marker = work / "built.json"
    if reused:
        res["index_build_s"] = json.loads(marker.read_text("utf-8")).get("index_build_s")
        built = [f"nothing (indexes of the run that built the store, {res['index_build_s'] or 0:.1f}s then)"]
    else:
        marker.write_text(json.dumps({**json.loads(marker.read_text("utf-8")), "index_build_s": res["index_build_s"],
                                      "load": load()}), "utf-8")
    res["disk_mb"] = du(store_dir) / 1e6
    print(f"[{n:,}] built {', '.join(built) or 'nothing'} in {time.perf_counter() - t:.1f}s; store on disk "
          f"{res['disk_mb']:.0f} MB ({load()})", flush=True)
    if not reused:  # the reused runs time today's scan on the indexed store: show how the two compare
        res["legacy_indexed_p50_ms"] = time_legacy()
        print(f"[{n:,}] today's scan on the indexed store: p50 {res['legacy_indexed_p50_ms']:.0f} ms ({load()})", flush=True)

    searcher = Searcher(store, embedder=Embedder())
    recalls, lat_store, lat_search, lat_hybrid = [], [], [], []
    qtexts = texts[:: max(1, len(texts) // len(qs))]
    searcher.search("warm", vector=qs[0], mode="dense")
    for i, q in enumerate(qs):
        t = time.perf_counter()
        hits = store.search(q, 10)
        lat_store.append(time.perf_counter() - t)
        recalls.append(len({h.record.id for h in hits} & exact_ids[i]) / 10)
        t = time.perf_counter()
        searcher.search("", vector=q, mode="dense")
        lat_search.append(time.perf_counter() - t)
        t = time.perf_counter()
        searcher.search(qtexts[i % len(qtexts)][:60], vector=q, mode="hybrid")
        lat_hybrid.append(time.perf_counter() - t)
    res.update(recall10=float(np.mean(recalls)), store_p50_ms=pct(lat_store, 50), search_p50_ms=pct(lat_search, 50),
               search_p99_ms=pct(lat_search, 99), hybrid_p50_ms=pct(lat_hybrid, 50), hybrid_p99_ms=pct(lat_hybrid, 99))
    res["speedup_vs_today"] = res["legacy_p50_ms"] / res["search_p50_ms"]
    print(f"[{n:,}] Searcher.search dense p50 {res['search_p50_ms']:.1f} ms p99 {res['search_p99_ms']:.1f} ms "
          f"({res['speedup_vs_today']:.0f}x faster than today's scan); hybrid p50 {res['hybrid_p50_ms']:.1f} ms "
          f"p99 {res['hybrid_p99_ms']:.1f} ms; store.search k=10 p50 {res['store_p50_ms']:.1f} ms; "
          f"numpy exact {res['numpy_ms']:.1f} ms/query ({load()})", flush=True)
    from omniembed.store.lance import nprobes_for

    res["nprobes"] = nprobes_for(store.table.count_rows())
    print(f"[{n:,}] recall@10 vs exact: {res['recall10']:.3f} over {len(qs)} real queries, {res['nprobes']} partitions "
          f"probed ({load()})", flush=True)
    if args.sweep:  # the probe/refine trade-off behind NPROBES and REFINE_FACTOR
        import omniembed.store.lance as lance_mod

        keep = (lance_mod.NPROBES, lance_mod.REFINE_FACTOR, lance_mod.PROBE_SHARE)
        for npb, rf in ((32, 4), (64, 2), (64, 4), (96, 2), (96, 4), (128, 2), (128, 4)):
            lance_mod.NPROBES, lance_mod.REFINE_FACTOR, lance_mod.PROBE_SHARE = npb, rf, 0.0
            rec, lat = [], []
            for i, q in enumerate(qs):
                t = time.perf_counter()
                hits = store.search(q, 10)
                lat.append(time.perf_counter() - t)
                rec.append(len({h.record.id for h in hits} & exact_ids[i]) / 10)
            print(f"[{n:,}]   nprobes {npb} refine {rf}: recall@10 {np.mean(rec):.3f}, store.search k=10 p50 "
                  f"{pct(lat, 50):.1f} ms ({load()})", flush=True)
        lance_mod.NPROBES, lance_mod.REFINE_FACTOR, lance_mod.PROBE_SHARE = keep

    if args.profile_search:  # where Searcher.search spends its time, and what the record depth costs
        import cProfile
        import pstats

        for depth in (10, 20, 40, 130):
            lat = []
            for q in qs:
                t = time.perf_counter()
                store.search(q, depth)
                lat.append(time.perf_counter() - t)
            print(f"[{n:,}]   store.search k={depth} p50 {pct(lat, 50):.1f} ms ({load()})", flush=True)
        pr = cProfile.Profile()
        pr.enable()
        for q in qs:
            searcher.search("", vector=q, mode="dense")
        pr.disable()
        pstats.Stats(pr, stream=sys.stdout).sort_stats("cumulative").print_stats(25)

    emb = Embedder()
    t = time.perf_counter()
    rep = Indexer(store, emb).run(folder, progress=False)
    res["reindex_s"] = time.perf_counter() - t
    assert rep.unchanged == n_files and rep.indexed == 0, (rep.unchanged, rep.indexed)
    print(f"[{n:,}] re-index with nothing changed ({n_files:,} files): {res['reindex_s']:.2f}s ({load()})", flush=True)
    store.close()

    if args.cli:
        walls, rss = [], []
        for mode in ("dense", "hybrid"):
            for q in ("compressor bearing replacement schedule", "error while opening the file"):
                w, r = cli_search(store_dir, q, mode)
                walls.append(w)
                rss.append(r)
        res.update(cli_p50_s=float(np.median(walls)), cli_rss_mb=max(rss))
        print(f"[{n:,}] `omniembed search` process: wall p50 {res['cli_p50_s']:.2f}s (model load included), "
              f"peak RSS {res['cli_rss_mb']} MB ({load()})", flush=True)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000", help="chunk-record counts, comma-separated")
    ap.add_argument("--queries", type=int, default=100, help="real query vectors for latency and recall")
    ap.add_argument("--legacy-queries", type=int, default=3, help="queries through today's scan at >= 500k")
    ap.add_argument("--index-type", default=None, help="IVF_SQ (the default, omniembed.store.lance.ANN_INDEX), IVF_PQ or IVF_HNSW_SQ")
    ap.add_argument("--cli", action="store_true", help="also time `omniembed search` processes (RSS)")
    ap.add_argument("--workdir", default=str(ROOT / ".omniembed" / "bench-scale"))
    ap.add_argument("--keep", action="store_true", help="keep the stores")
    ap.add_argument("--reuse", action="store_true",
                    help="reuse stores an earlier --reuse run built in --workdir (implies --keep; the index build "
                         "time and today's scan are then measured on the already indexed store)")
    ap.add_argument("--sweep", action="store_true", help="also try other nprobes / refine factors")
    ap.add_argument("--profile-search", action="store_true", help="also cProfile Searcher.search and time store depths")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    args.keep = args.keep or args.reuse

    from .scale_data import real_vectors

    base, queries, texts = real_vectors()
    print(f"real vectors: {len(base)} catalog texts (lite, RETRIEVAL_DOCUMENT), {len(queries)} queries ({load()})")
    out = [run_size(int(s), base, queries, texts, args) for s in args.sizes.split(",")]
    if len(out) > 1:
        a, b = out[-2], out[-1]
        print(f"latency growth {a['chunks']:,} → {b['chunks']:,}: {b['search_p50_ms'] / a['search_p50_ms']:.2f}x "
              f"(records {b['records'] / a['records']:.0f}x; today's scan {b['legacy_p50_ms'] / a['legacy_p50_ms']:.1f}x)")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1), "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
