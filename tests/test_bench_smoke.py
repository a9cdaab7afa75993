"""The benchmarks still run against today's API (a bench is not imported by anything else, so an API
change can break it unnoticed: ``bench_index`` did, when ``walk()`` started yielding ``Found``). Each
runs once on the dummy profile and a tiny folder; the numbers are not the point here."""

from __future__ import annotations

import sys

from server_harness import ROOT

sys.path.insert(0, str(ROOT))

from bench import bench_index  # noqa: E402


def test_bench_index_runs_every_mode_on_a_tiny_folder(tmp_path, dummy_embedder, capsys):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("Glaciers carve deep valleys. They move a few metres a year.")
    (folder / "b.md").write_text("# Bees\n\nBees pollinate orchards in spring. Hives winter indoors.")
    ratio = bench_index.measure("tiny", folder, 1, True, dummy_embedder, tmp_path / "work", no_fine=True)
    out = capsys.readouterr().out
    assert ratio > 0
    assert "index --no-fine / library" in out and "embed_detailed(fine=True)" in out and "2 indexed" in out
