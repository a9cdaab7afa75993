"""The benchmarks still run against today's API. A bench is imported by nothing else, so an API change
can break it unnoticed: ``bench_index`` did, when ``walk()`` started yielding ``Found``. Every bench
answers ``--help`` without running (``bench_hostile`` used to ignore it and run for a minute), and
``bench_index`` runs once on the dummy profile and a tiny folder. The numbers are not the point here."""

from __future__ import annotations

import subprocess
import sys

import pytest

from server_harness import ROOT

sys.path.insert(0, str(ROOT))

from bench import bench_index  # noqa: E402

#: every module of bench/ that runs as ``python -m bench.NAME`` (cached_eval is an eval-dev adapter)
RUNNABLE = sorted(p.stem for p in (ROOT / "bench").glob("*.py")
                  if not p.stem.startswith("__") and "__main__" in p.read_text("utf-8")) + ["__main__"]


@pytest.mark.parametrize("name", RUNNABLE)
def test_every_bench_answers_help_without_running(name):
    mod = "bench" if name == "__main__" else f"bench.{name}"
    r = subprocess.run([sys.executable, "-m", mod, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "usage:" in r.stdout


def test_bench_index_runs_every_mode_on_a_tiny_folder(tmp_path, dummy_embedder, capsys):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("Glaciers carve deep valleys. They move a few metres a year.")
    (folder / "b.md").write_text("# Bees\n\nBees pollinate orchards in spring. Hives winter indoors.")
    ratio = bench_index.measure("tiny", folder, 1, True, dummy_embedder, tmp_path / "work", no_fine=True)
    out = capsys.readouterr().out
    assert ratio > 0
    assert "index --no-fine / library" in out and "embed_detailed(fine=True)" in out and "2 indexed" in out
