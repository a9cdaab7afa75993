"""Top-k hit rate of `omniembed search` on the eval-dev D4 mixed folder (or any task with files/).

    .venv/bin/python -m bench.eval_search                       # index ../shared/eval-dev D4, then query
    .venv/bin/python -m bench.eval_search --store .omniembed/d4-store --k 3 --json out.json
    .venv/bin/python -m bench.eval_search --keyword       # the keyword-heavy set (bench/keyword_queries.py)

Indexes ``tasks/d4-folder/files`` into a store (incremental: a second run re-uses it), runs every query
of ``queries.jsonl`` through :class:`omniembed.search.Searcher` — the code behind ``omniembed search`` —
and prints the top-k hit rate, R@1 and MRR@10 overall and per query kind, for each search mode
(dense, keyword, hybrid; ``files-only`` = the document vectors alone) in the same run: the measurement
behind the default mode (docs/search.md). ``--task .omniembed/longdocs/search-task`` (written by
``python -m bench.longdocs``) runs issue 19's long-document task through search.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TASK = ROOT.parent / "shared" / "eval-dev" / "tasks" / "d4-folder"
KEYWORD_TASK = ROOT.parent / "shared" / "eval-dev" / "tasks" / "d2-pdf"
KEYWORD_QUERIES = ROOT / "bench" / "data" / "keyword-queries.jsonl"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", type=Path, default=TASK)
    ap.add_argument("--store", default=None, help="default .omniembed/d4-store (or kw-store with --keyword)")
    ap.add_argument("--queries", type=Path, help="queries.jsonl (default: the task's)")
    ap.add_argument("--keyword", action="store_true",
                    help="the keyword-heavy set: d2-pdf files, bench/data/keyword-queries.jsonl")
    ap.add_argument("--modes", default="dense,keyword,hybrid",
                    help="search modes to compare; hybrid@W weighs the keyword list W (the dense list 1); "
                         "files-only / chunks-only rank by file / chunk vectors alone")
    ap.add_argument("--first", type=int, default=0,
                    help="only the first N files (sorted) and their queries: a quicker run on a busy machine")
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--chunks-only", action="store_true", help="rank by chunk vectors only (ablation)")
    ap.add_argument("--files-only", action="store_true", help="rank by file vectors only (ablation)")
    ap.add_argument("--no-fine", action="store_true",
                    help="index without the line/sentence windows (chunk and file records only): a cheaper "
                         "index whose dense ranking still uses the file vector and the best chunks")
    ap.add_argument("--json", type=Path, help="write per-query results here")
    args = ap.parse_args(argv)
    if args.keyword:
        args.task = KEYWORD_TASK if args.task == TASK else args.task
        args.queries = args.queries or KEYWORD_QUERIES
    args.store = args.store or str(ROOT / ".omniembed" / ("kw-store" if args.keyword else "d4-store"))
    args.queries = args.queries or args.task / "queries.jsonl"

    from rich.console import Console
    from rich.table import Table

    from omniembed.indexer import Indexer
    from omniembed.search import Searcher
    from omniembed.store import open_store

    console = Console(stderr=True)
    files = args.task / "files"
    if args.first:
        import shutil

        files = Path(args.store).with_name(Path(args.store).name + f"-first{args.first}") / "files"
        files.mkdir(parents=True, exist_ok=True)
        for f in sorted((args.task / "files").iterdir())[: args.first]:
            if not (files / f.name).exists():
                shutil.copy2(f, files / f.name)
    store = open_store(args.store)
    report = Indexer(store, fine=not args.no_fine).run(files, console=console)
    console.print(f"index: {report.indexed} embedded, {report.unchanged} unchanged, {len(report.failed)} failed "
                  f"in {report.seconds:.1f}s")
    searcher = Searcher(store)
    queries = [json.loads(line) for line in args.queries.read_text("utf-8").splitlines() if line.strip()]
    if args.first:
        names = {f.name for f in files.iterdir()}
        queries = [q for q in queries if any(Path(r).name in names for r in q["relevant"])]
    modes = ["files-only" if args.files_only else "chunks-only"] if (args.files_only or args.chunks_only) \
        else args.modes.split(",")
    depth = max(args.k, 10)  # ranks to 10 deep for R@1 and MRR@10
    rows = []
    summary = {}
    for mode in modes:
        per_kind: dict[str, list[int]] = defaultdict(list)
        for q in queries:
            if mode in ("files-only", "chunks-only"):
                qv = searcher.embed_query(q["text"])
                seen: list[str] = []
                for h in store.search(qv, 200, level="file" if mode == "files-only" else "chunk"):
                    if h.record.path not in seen:
                        seen.append(h.record.path)
                ranked = seen[:depth]
            else:
                name, _, w = mode.partition("@")
                ranked = [h.rel_path for h in searcher.search(q["text"], k=depth, mode=name,
                                                              weights=(1.0, float(w or 1.0)))]
            rank = next((i + 1 for i, r in enumerate(ranked) if Path(r).name in q["relevant"]), None)
            ok = int(rank is not None and rank <= args.k)
            kind = q["meta"]["kind"]
            per_kind[kind].append(ok)
            rows.append({"mode": mode, "id": q["id"], "kind": kind, "hit": ok, "rank": rank,
                         "relevant": q["relevant"], "top": ranked[: args.k]})
        summary[mode] = per_kind
    table = Table(title=f"top-{args.k} hit rate, {args.task.name} / {args.queries.name} ({len(queries)} queries)")
    table.add_column("kind")
    table.add_column("queries", justify="right")
    for mode in modes:
        table.add_column(f"{mode} hit@{args.k}", justify="right")
    kinds = sorted(summary[modes[0]])
    for kind in kinds:
        cells = [f"{sum(v) / len(v):.0%} ({sum(v)}/{len(v)})" for v in (summary[m][kind] for m in modes)]
        table.add_row(kind, str(len(summary[modes[0]][kind])), *cells)
    tot = []
    for mode in modes:
        hits = [r["hit"] for r in rows if r["mode"] == mode]
        tot.append(f"[bold]{sum(hits) / len(hits):.1%} ({sum(hits)}/{len(hits)})")
    table.add_row("[bold]all", str(len(queries)), *tot)
    Console().print(table)
    # R@1 and MRR@10 (rank of the expected file, 0 beyond 10), overall and per kind
    t2 = Table(title="R@1 / MRR@10")
    t2.add_column("kind")
    t2.add_column("queries", justify="right")
    for mode in modes:
        t2.add_column(mode, justify="right")
    for kind in kinds + [None]:
        cells = []
        for mode in modes:
            rk = [r["rank"] for r in rows if r["mode"] == mode and (kind is None or r["kind"] == kind)]
            r1 = sum(x == 1 for x in rk) / len(rk)
            mrr = sum(1.0 / x for x in rk if x is not None and x <= 10) / len(rk)
            cells.append(f"{r1:.3f} / {mrr:.3f}")
        n = len([r for r in rows if r["mode"] == modes[0] and (kind is None or r["kind"] == kind)])
        t2.add_row(kind or "[bold]all", str(n), *cells)
    Console().print(t2)
    for r in rows:
        if not r["hit"]:
            console.print(f"miss [{r['mode']}] {r['id']} ({r['kind']}): want {r['relevant'][0]}, got {r['top']}",
                          highlight=False)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1), "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
