"""Top-k hit rate of `omniembed search` on the eval-dev D4 mixed folder (or any task with files/).

    .venv/bin/python -m bench.eval_search                       # index ../shared/eval-dev D4, then query
    .venv/bin/python -m bench.eval_search --store .omniembed/d4-store --k 3 --json out.json

Indexes ``tasks/d4-folder/files`` into a store (incremental: a second run re-uses it), runs every query
of ``queries.jsonl`` through :class:`omniembed.search.Searcher` — the code behind ``omniembed search`` —
and prints the top-k hit rate overall and per query kind.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TASK = ROOT.parent / "shared" / "eval-dev" / "tasks" / "d4-folder"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", type=Path, default=TASK)
    ap.add_argument("--store", default=str(ROOT / ".omniembed" / "d4-store"))
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--chunks-only", action="store_true", help="rank by chunk vectors only (ablation)")
    ap.add_argument("--files-only", action="store_true", help="rank by file vectors only (ablation)")
    ap.add_argument("--json", type=Path, help="write per-query results here")
    args = ap.parse_args(argv)

    from rich.console import Console
    from rich.table import Table

    from omniembed.indexer import Indexer
    from omniembed.search import Searcher
    from omniembed.store import open_store

    console = Console(stderr=True)
    store = open_store(args.store)
    report = Indexer(store).run(args.task / "files", console=console)
    console.print(f"index: {report.indexed} embedded, {report.unchanged} unchanged, {len(report.failed)} failed "
                  f"in {report.seconds:.1f}s")
    searcher = Searcher(store)
    per_kind: dict[str, list[int]] = defaultdict(list)
    rows = []
    for line in (args.task / "queries.jsonl").read_text("utf-8").splitlines():
        q = json.loads(line)
        if args.files_only or args.chunks_only:
            qv = searcher.embed_query(q["text"])
            level = "file" if args.files_only else "chunk"
            seen: list[str] = []
            for h in store.search(qv, 200, level=level):
                if h.record.path not in seen:
                    seen.append(h.record.path)
            ranked = seen[: args.k]
        else:
            ranked = [h.rel_path for h in searcher.search(q["text"], k=args.k)]
        ok = int(any(Path(r).name in q["relevant"] for r in ranked))
        kind = q["meta"]["kind"]
        per_kind[kind].append(ok)
        rows.append({"id": q["id"], "kind": kind, "hit": ok, "relevant": q["relevant"], "top": ranked})
    table = Table(title=f"top-{args.k} hit rate, {args.task.name} ({len(rows)} queries)")
    table.add_column("kind")
    table.add_column("queries", justify="right")
    table.add_column(f"hit@{args.k}", justify="right")
    for kind in sorted(per_kind):
        v = per_kind[kind]
        table.add_row(kind, str(len(v)), f"{sum(v) / len(v):.0%} ({sum(v)}/{len(v)})")
    total = [r["hit"] for r in rows]
    table.add_row("[bold]all", str(len(total)), f"[bold]{sum(total) / len(total):.1%} ({sum(total)}/{len(total)})")
    Console().print(table)
    for r in rows:
        if not r["hit"]:
            console.print(f"miss {r['id']} ({r['kind']}): want {r['relevant'][0]}, got {r['top']}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1), "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
