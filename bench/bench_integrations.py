"""Framework adapter overhead: each adapter vs ``Embedder.embed`` called directly, in one run.

    .venv/bin/python -m bench.bench_integrations [--quick] [--n 128] [--repeats 3]

Embeds the same N short texts (documents) through
  * the library directly (baseline),
  * each in-process adapter: LangChain, LlamaIndex, Haystack, Chroma   (target ≥ 0.95× the baseline),
  * the LangChain adapter in server mode, and the frameworks' own clients pointed at the server:
    langchain-google-genai and langchain-openai                        (target ≥ 0.8× the baseline),
and prints texts/s and the ratio to the baseline (best of ``--repeats``). The server is a real
``omniembed serve`` subprocess on loopback; while it runs, this process's engine is idle.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")

_TOPICS = ["the harbour", "a violin", "the tax office", "glaciers", "a compiler", "saffron rice", "the orbit",
           "a lantern", "the harvest", "granite cliffs", "the tundra", "a river delta"]


def texts(n: int) -> list[str]:
    return [f"Note {i}: a short paragraph about {_TOPICS[i % len(_TOPICS)]}, its history and its uses today."
            for i in range(n)]


def best_rate(fn, items: list[str], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn(items)
        dt = time.perf_counter() - t0
        assert len(out) == len(items)
        best = min(best, dt)
    return len(items) / best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=128, help="texts per measurement")
    ap.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    ap.add_argument("--quick", action="store_true", help="64 texts, 2 repeats")
    args, _ = ap.parse_known_args()
    n, repeats = (64, 2) if args.quick else (args.n, args.repeats)
    items = texts(n)

    from haystack import Document

    from omniembed import Embedder
    from omniembed.integrations.chroma import OmniEmbedEmbeddingFunction
    from omniembed.integrations.haystack import OmniEmbedDocumentEmbedder
    from omniembed.integrations.langchain import OmniEmbedEmbeddings
    from omniembed.integrations.llamaindex import OmniEmbedMultiModalEmbedding

    emb = Embedder()
    emb.embed(items[:4])  # load the models
    rows: list[tuple[str, float, float]] = []
    base = best_rate(lambda xs: emb.embed(xs), items, repeats)
    rows.append(("library Embedder.embed (baseline)", base, 0.95))
    lc = OmniEmbedEmbeddings(emb)
    rows.append(("LangChain adapter, in-process", best_rate(lc.embed_documents, items, repeats), 0.95))
    li = OmniEmbedMultiModalEmbedding(emb)
    rows.append(("LlamaIndex adapter, in-process", best_rate(li.get_text_embedding_batch, items, repeats), 0.95))
    hs = OmniEmbedDocumentEmbedder(emb)
    rows.append(("Haystack document embedder, in-process",
                 best_rate(lambda xs: hs.run([Document(content=x) for x in xs])["documents"], items, repeats), 0.95))
    ch = OmniEmbedEmbeddingFunction(emb)
    rows.append(("Chroma embedding function, in-process", best_rate(ch, items, repeats), 0.95))

    from langchain_google_genai import GoogleGenerativeAIEmbeddings
    from langchain_openai import OpenAIEmbeddings
    from server_harness import ServerProcess

    with tempfile.TemporaryDirectory() as data, ServerProcess(Path(data), "--model-alias", "gemini-embedding-2") as srv:
        remote = OmniEmbedEmbeddings(base_url=srv.url)
        remote.embed_documents(items[:4])
        rows.append(("LangChain adapter, server mode", best_rate(remote.embed_documents, items, repeats), 0.8))
        google = GoogleGenerativeAIEmbeddings(model="gemini-embedding-2", google_api_key="k", base_url=srv.url)
        rows.append(("langchain-google-genai → server", best_rate(google.embed_documents, items, repeats), 0.8))
        openai = OpenAIEmbeddings(model="omniembed-lite", api_key="k", base_url=f"{srv.url}/v1",
                                  check_embedding_ctx_length=False)
        rows.append(("langchain-openai → server", best_rate(openai.embed_documents, items, repeats), 0.8))

    print(f"{n} short texts, best of {repeats}; ratio = texts/s ÷ library texts/s")
    print(f"{'path':44s} {'texts/s':>9s} {'ratio':>7s} {'target':>8s}")
    for name, rate, target in rows:
        ratio = rate / base
        ok = name.startswith("library") or ratio >= target
        mark = "" if name.startswith("library") else f"≥{target:.2f} {'ok' if ok else 'MISS'}"
        print(f"{name:44s} {rate:9.1f} {ratio:6.2f}× {mark:>8s}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
