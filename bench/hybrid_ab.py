"""Hybrid search with the keyword list read concurrently vs sequentially, same process, alternating.

    .venv/bin/python -m bench.hybrid_ab STORE [--rounds 40]

STORE: an indexed store, e.g. the 1 M store ``bench.bench_scale --keep`` leaves under its workdir. Each
round runs both orders (which one first alternates) of ``Searcher.search(mode="hybrid")`` with the query
text (embedding included) and with its vector given, toggling ``store.concurrent_reads``; prints p50/p90
of each and the sequential/concurrent ratio of the p50s.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

QUERIES = ("how to restart the network service after an update", "compressor noise in the meeting notes",
           "error code 0x80070005 when installing", "list directory contents sorted by time",
           "quarterly budget for the marketing team", "configure ssh keys for a new server",
           "warranty claim for the broken laptop screen", "recipe with tomatoes and basil")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("store", help="an indexed LanceDB store")
    ap.add_argument("--rounds", type=int, default=40)
    args = ap.parse_args()
    from omniembed import Embedder
    from omniembed.search import Searcher
    from omniembed.store import open_store

    store = open_store(args.store)
    s = Searcher(store, embedder=Embedder())
    for q in QUERIES[:2]:
        s.search(q, mode="hybrid")  # warm: binding, indexes, caches
    vecs = {q: s.embed_query(q) for q in QUERIES}
    res: dict[str, list[float]] = {"seq/text": [], "conc/text": [], "seq/vec": [], "conc/vec": []}
    for i in range(args.rounds):
        q = QUERIES[i % len(QUERIES)]
        for conc in ((True, False) if i % 2 else (False, True)):
            store.concurrent_reads = conc
            tag = "conc" if conc else "seq"
            t = time.perf_counter()
            s.search(q, mode="hybrid")
            res[tag + "/text"].append(time.perf_counter() - t)
            t = time.perf_counter()
            s.search(q, vector=vecs[q], mode="hybrid")
            res[tag + "/vec"].append(time.perf_counter() - t)
    for k, v in res.items():
        print(f"{k:10s} p50 {statistics.median(v) * 1000:6.1f} ms  p90 {np.percentile(v, 90) * 1000:6.1f} ms")
    for kind in ("text", "vec"):
        ratio = statistics.median(res[f"seq/{kind}"]) / statistics.median(res[f"conc/{kind}"])
        print(f"sequential / concurrent p50, {kind}: {ratio:.2f}x")


if __name__ == "__main__":
    main()
