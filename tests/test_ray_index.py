"""Distributed indexing on a real local Ray cluster (issue 16, item 4): a head node and a second node
process started by the test on 127.0.0.1, the real ``omniembed index --ray`` CLI as the driver, a real
LanceDB store; a worker actor's process is SIGKILLed mid-run and the driver is SIGKILLed mid-run.

Every run is compared with the single-machine indexer over the same folder: the same records, with equal
vectors. The ``dummy`` profile keeps the CPU small (2 shared cores): quality is not the point here, the
records and their exactly-once writes are. The cluster's workers sleep per token
(``OMNIEMBED_DUMMY_SECONDS_PER_TOKEN``, inherited from ``ray start``) so there is a run to interrupt
without burning CPU; the single-machine reference, in this process, does not sleep — vectors are equal.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import ray_cluster
from conftest import require_binary
from media_factory import text_pdf
from media_gen import speak
from omniembed import Embedder
from omniembed.indexer import Indexer
from omniembed.store import open_store

BIN = Path(sys.executable).parent
#: seconds per token in the cluster's workers: the indexer embeds ~400 tokens of a note (its file and chunk
#: pieces), so a note takes ~1.2 s, asleep: long enough to find a busy actor to kill and to kill the driver
#: after 3 of the 12 files (both polled every 0.1-0.3 s), short enough that the four full runs sleep ~35 s
#: in all (0.01: ~100 s; the whole file 307 -> 152 s wall at load ~4, 2026-12-01).
SLOW = "0.003"
N_NOTES = 10


@pytest.fixture(scope="module")
def cluster():
    """A head node and a second node on this machine, one CPU each, 127.0.0.1 only, no dashboard."""
    try:
        yield ray_cluster.start(worker_env={"OMNIEMBED_DUMMY_SECONDS_PER_TOKEN": SLOW, "OMP_NUM_THREADS": "1"})
    finally:
        ray_cluster.stop()


def _folder(d: Path) -> Path:
    """Real media: notes of ~150 words, a two-page PDF, an espeak-ng clip."""
    d.mkdir(parents=True)
    for i in range(N_NOTES):
        words = " ".join(f"item{i}-{j} about the harbour crane number {i}" for j in range(25))
        (d / f"note-{i:02d}.txt").write_text(f"Note {i}. {words}", encoding="utf-8")
    text_pdf(d / "manual.pdf", [["Espresso machine EM-3", "Fill the tank with fresh water."],
                                ["Descaling", "Descale the boiler every two months."]])  # fmt: skip
    require_binary("espeak-ng")
    speak(d / "clip.wav", "The delivery arrives on Tuesday morning at the north gate.")
    (d / "broken.pdf").write_bytes(b"%PDF-1.7 not really a pdf")  # fails the same way everywhere
    return d


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return _folder(tmp_path_factory.mktemp("ray") / "docs")


@pytest.fixture(scope="module")
def reference(folder, tmp_path_factory) -> dict:
    """The single-machine indexer's records over the same folder (the default path, no Ray)."""
    store = open_store(str(tmp_path_factory.mktemp("ref") / "store"))
    report = Indexer(store, Embedder("dummy")).run(folder, progress=False)
    assert report.new == N_NOTES + 2 and [o.path for o in report.failed] == ["broken.pdf"]
    recs = _records(store)
    store.close()
    return recs


def _records(store) -> dict:
    out = {}
    for level in ("file", "chunk"):
        for r in store.records(level, with_vectors=True):
            assert r.id not in out, f"record {r.id} stored twice"
            out[r.id] = r
    return out


def _assert_same_store(store_path: Path, reference: dict) -> None:
    store = open_store(str(store_path))
    got = _records(store)
    files = store.files()
    store.close()
    assert sorted(e.path for e in files.values()) == sorted(r.path for r in reference.values() if r.level == "file")
    assert set(got) == set(reference)
    for rid, r in reference.items():
        g = got[rid]
        assert (g.path, g.level, g.modality, g.text, g.page, g.start_s, g.end_s, g.sha256, g.n_chunks) == (
            r.path, r.level, r.modality, r.text, r.page, r.start_s, r.end_s, r.sha256, r.n_chunks), rid
        np.testing.assert_allclose(g.vector, r.vector, atol=1e-6, err_msg=rid)


def _index_cmd(folder: Path, store: Path, address: str, *extra: str) -> list[str]:
    return [str(BIN / "omniembed"), "index", str(folder), "--store", str(store), "--profile", "dummy",
            "--ray", address, "--quiet", "--json", *extra]  # fmt: skip


def _env() -> dict:
    return ray_cluster.env(OMP_NUM_THREADS="1")


def _worker_pids() -> dict[int, str]:
    """pid → process title of this machine's EmbedWorker actors (Ray titles them ray::EmbedWorker[.embed])."""
    out = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                title = (d / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
            except OSError:
                continue
            if title.startswith("ray::EmbedWorker"):
                out[int(d.name)] = title
    return out


def test_ray_index_equals_single_machine_and_resumes_incrementally(cluster, folder, reference, tmp_path):
    store = tmp_path / "store"
    run = subprocess.run(_index_cmd(folder, store, cluster), env=_env(), capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert (report["new"], report["unchanged"]) == (N_NOTES + 2, 0)
    assert [f["path"] for f in report["failed"]] == ["broken.pdf"]  # reported by the worker, not a crash
    _assert_same_store(store, reference)
    # the incremental rules are the driver's: nothing changed → nothing sent to Ray
    again = subprocess.run(_index_cmd(folder, store, cluster), env=_env(), capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    r2 = json.loads(again.stdout)
    assert (r2["new"], r2["changed"], r2["unchanged"]) == (0, 0, N_NOTES + 2)


def test_killed_worker_file_is_retried_on_another_actor(cluster, folder, reference, tmp_path):
    store = tmp_path / "store"
    proc = subprocess.Popen(_index_cmd(folder, store, cluster, "--ray-workers", "2"), env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    killed = None
    deadline = time.time() + 180
    try:
        while time.time() < deadline and killed is None and proc.poll() is None:
            busy = [pid for pid, title in _worker_pids().items() if ".embed" in title]
            if busy and store.exists():  # both actors up, one of them in the middle of a file
                time.sleep(0.3)
                busy = [pid for pid, title in _worker_pids().items() if ".embed" in title]
                if busy:
                    os.kill(busy[0], signal.SIGKILL)
                    killed = busy[0]
            time.sleep(0.1)
        out, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert killed is not None, "no busy worker actor was found to kill"
    assert proc.returncode == 0, err
    report = json.loads(out)
    assert report["worker_retries"] >= 1  # the killed actor's file(s) were sent again
    paths = [f["path"] for f in report["files"]]
    assert len(paths) == len(set(paths)) == N_NOTES + 3  # every file reported exactly once
    assert (report["new"], [f["path"] for f in report["failed"]]) == (N_NOTES + 2, ["broken.pdf"])
    _assert_same_store(store, reference)


def test_killed_driver_resumes_without_indexing_twice(cluster, folder, reference, tmp_path):
    store = tmp_path / "store"
    cmd = _index_cmd(folder, store, cluster)
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    written = 0
    deadline = time.time() + 180
    try:
        while time.time() < deadline and written < 3 and proc.poll() is None:
            time.sleep(0.3)
            if (store / "files.lance").exists() or store.exists():
                try:
                    with open_store(str(store)) as st:
                        written = len(st.files()) if st.info() else 0
                except Exception:  # noqa: BLE001 — the table may be mid-creation
                    written = 0
        assert proc.poll() is None, "the run finished before it could be killed; slow the workers down"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    with open_store(str(store)) as st:
        before = {e.path for e in st.files().values()}
    assert 3 <= len(before) < N_NOTES + 2
    # the same command, with the address from the environment this time (`--ray` without a value)
    bare = [a for a in cmd if a != cluster]
    done = subprocess.run(bare, env=dict(_env(), RAY_ADDRESS=cluster), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    embedded = {f["path"] for f in report["files"] if f["status"] in ("new", "changed")}
    assert embedded.isdisjoint(before)  # nothing written before the crash was embedded again
    assert len(embedded) + len(before) == N_NOTES + 2
    _assert_same_store(store, reference)


def test_index_dataset_of_bytes_equals_the_folder_run(cluster, folder, reference, tmp_path):
    """The library function on a Ray Dataset (``read_binary_files``: paths and bytes), in its own driver."""
    store = tmp_path / "store"
    script = f"""
import json, ray
from omniembed.distributed import connect, index_dataset
from omniembed.store import open_store
connect({cluster!r})
ds = ray.data.read_binary_files({str(folder)!r}, include_paths=True)
with open_store({str(store)!r}) as st:
    r = index_dataset(ds, st, root={str(folder)!r}, profile="dummy", workers=1)
print(json.dumps({{"new": r.new, "failed": [o.path for o in r.failed], "unchanged": r.unchanged}}))
"""
    run = subprocess.run([sys.executable, "-c", script], env=_env(), capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    got = json.loads(run.stdout.strip().splitlines()[-1])
    assert got == {"new": N_NOTES + 2, "failed": ["broken.pdf"], "unchanged": 0}
    _assert_same_store(store, reference)


def test_default_path_never_imports_ray(tmp_path):
    """`omniembed index` without --ray (and the library's Indexer) must not load Ray."""
    d = tmp_path / "docs"
    d.mkdir()
    (d / "a.txt").write_text("a short note about ray tracing", encoding="utf-8")
    script = f"""
import sys
from omniembed.cli import app
try:
    app(["index", {str(d)!r}, "--store", {str(tmp_path / 'store')!r}, "--profile", "dummy", "--quiet"])
except SystemExit as e:
    assert not e.code, e.code
loaded = sorted(m for m in sys.modules if m == "ray" or m.startswith("ray."))
assert not loaded, loaded
print("ok")
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and run.stdout.strip().endswith("ok"), run.stderr[-3000:]


def test_ray_without_a_cluster_is_a_clear_error(tmp_path):
    d = tmp_path / "docs"
    d.mkdir()
    (d / "a.txt").write_text("note", encoding="utf-8")
    port = ray_cluster.free_port()  # nothing listens there
    run = subprocess.run(_index_cmd(d, tmp_path / "store", f"127.0.0.1:{port}"), env=_env(), capture_output=True,
                         text=True, timeout=180)  # fmt: skip
    assert run.returncode == 3, run.stderr
    assert "Ray cluster" in run.stderr and "Traceback" not in run.stderr


def test_more_workers_than_the_cluster_has_cpus_is_refused(cluster, folder, tmp_path):
    run = subprocess.run(_index_cmd(folder, tmp_path / "store", cluster, "--ray-workers", "5"), env=_env(),
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert run.returncode == 3, run.stderr
    assert "the cluster has 2" in run.stderr and "Traceback" not in run.stderr
