"""The process's CPU budget (omniembed/cpu.py): per-call OpenMP thread counts from the free cores."""

from __future__ import annotations

import os

import numpy as np
import pytest

from omniembed import cpu


def test_runnable_now_parses_loadavg_and_reads_the_real_file():
    assert cpu.runnable_now("0.52 0.58 0.59 3/467 12345\n") == 3
    assert cpu.runnable_now("garbage") is None
    assert cpu.runnable_now("") is None
    if os.path.exists("/proc/loadavg"):
        n = cpu.runnable_now()
        assert isinstance(n, int) and n >= 1  # at least this test is running


@pytest.mark.parametrize(
    "total, runnable, spinning, expected",
    [
        (2, 1, 0, 2),  # only the caller: every core
        (2, 2, 1, 2),  # the other runnable thread is our own pool thread, still spinning
        (2, 2, 0, 1),  # one other process: one core left
        (2, 3, 0, 1),  # two busy processes: one thread, never zero
        (2, 40, 0, 1),
        (8, 4, 0, 5),
        (2, None, 0, 2),  # no /proc: the behaviour before the budget
        (1, 1, 0, 1),
    ],
)
def test_free_cores(total, runnable, spinning, expected):
    assert cpu.free_cores(total, runnable, spinning) == expected


def test_cores_honours_omniembed_threads_then_omp_num_threads_then_affinity():
    assert cpu.cores({"OMNIEMBED_THREADS": "3", "OMP_NUM_THREADS": "1"}) == 3
    assert cpu.cores({"OMP_NUM_THREADS": "1"}) == 1
    assert cpu.cores({"OMNIEMBED_THREADS": "zero"}) == len(os.sched_getaffinity(0))
    assert cpu.cores({}) == len(os.sched_getaffinity(0))


@pytest.mark.parametrize("value, expected", [(None, True), ("1", True), ("0", False), ("off", False), ("False", False)])
def test_adaptive_switch(value, expected):
    assert cpu.adaptive({} if value is None else {"OMNIEMBED_ADAPTIVE_THREADS": value}) is expected


def test_chooser_counts_its_own_spinning_threads_only_right_after_a_call():
    ch = cpu.ThreadChooser({"OMNIEMBED_THREADS": "2"})
    assert ch.choose(runnable=1, now=0.0) == 2
    ch.done(2, now=10.0)
    # just after a 2-thread call, one of the 2 runnable threads is our own pool thread
    assert ch.choose(runnable=2, now=10.0 + cpu.SPIN_GRACE_S / 2) == 2
    # later it sleeps, so a second runnable thread is someone else's (a first reading, nothing to confirm)
    assert ch.choose(runnable=2, now=100.0) == 1
    ch.done(1, now=100.0)
    assert ch.choose(runnable=2, now=100.0) == 1  # a 1-thread call leaves no pool thread spinning
    assert ch.chosen == {2: 2, 1: 2}


def test_chooser_ignores_a_one_reading_blip_but_follows_steady_load():
    ch = cpu.ThreadChooser({"OMNIEMBED_THREADS": "2"})
    assert ch.choose(runnable=1, now=0.0) == 2
    assert ch.choose(runnable=3, now=0.5) == 2  # one reading of load after an idle one: a blip
    assert ch.choose(runnable=3, now=1.0) == 1  # confirmed by the next call
    assert ch.choose(runnable=1, now=1.5) == 2  # gone: all cores at once
    assert ch.choose(runnable=3, now=1.5 + cpu.RECENT_S + 1) == 1  # the previous reading is stale


def test_chooser_counts_others_by_the_cores_they_used_lately():
    """Runnable at the call's start but hardly running (a local client sending the next request) does
    not take a core away; processes that keep a core busy do."""
    ch = cpu.ThreadChooser({"OMNIEMBED_THREADS": "2"})
    assert ch.choose(runnable=2, now=0.0, share=0.2) == 2
    assert ch.choose(runnable=2, now=0.5, share=0.2) == 2
    assert ch.choose(runnable=3, now=1.0, share=1.4) == 1  # two busy processes, sharing our cores
    assert ch.choose(runnable=3, now=1.5, share=None) == 1  # not measured: the runnable count decides


def test_cpu_marks_and_others_share():
    line = "cpu  100 5 50 1000 3 0 2 0 0 0\n"
    m = cpu.cpu_marks(line)
    assert m is not None and m[1] == pytest.approx(157 / os.sysconf("SC_CLK_TCK"))
    assert cpu.cpu_marks("cpu x") is None
    # the machine busy 1.5 CPU-seconds in 1 s, this process 0.5 of them: others used one core
    assert cpu.others_share((0.0, 10.0, 2.0), (1.0, 11.5, 2.5)) == pytest.approx(1.0)
    assert cpu.others_share((0.0, 10.0, 2.0), (1.0, 10.2, 2.5)) == 0.0  # never negative
    if os.path.exists("/proc/stat"):
        a = cpu.cpu_marks()
        sum(i * i for i in range(300_000))  # this process's own work is not "others"
        b = cpu.cpu_marks()
        assert a is not None and b is not None and b[2] >= a[2] and b[1] >= a[1]


def test_chooser_off_uses_every_core():
    ch = cpu.ThreadChooser({"OMNIEMBED_THREADS": "2", "OMNIEMBED_ADAPTIVE_THREADS": "0"})
    assert ch.choose(runnable=50) == 2


def test_e5_vectors_do_not_depend_on_the_thread_count():
    """The real engine: one thread (a busy machine) and two (an idle one) give the same vectors."""
    from omniembed.encoders.e5 import E5Encoder

    enc = E5Encoder()
    texts = ["how do I reset the router", "Der Bericht über die Energiepreise im Winter.", "x " * 300]
    got = {}
    for n in (1, 2):
        enc._threads.adaptive, enc._threads.total = False, n
        got[n] = enc.encode(texts, "passage")
        got[n, "single"] = enc.encode(texts[:1], "query")
    assert np.allclose(got[1], got[2], atol=1e-5)
    assert np.allclose(got[1, "single"], got[2, "single"], atol=1e-5)
    assert np.allclose(np.linalg.norm(got[1], axis=1), 1.0, atol=1e-4)


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="needs /proc/stat")
def test_share_sampler_sees_a_busy_process_at_any_moment():
    """The window is ready whenever a call comes, also after a pause with no calls (the first batch of
    a burst must not fall back to the runnable count), and a busy process shows as about one core."""
    import subprocess
    import sys
    import time

    s = cpu.ShareSampler()
    assert s.start()
    time.sleep(3 * cpu.SHARE_MIN_S)
    idle = s.share()
    assert idle is not None and idle >= 0.0
    busy = subprocess.Popen([sys.executable, "-c", "import time\nt = time.time()\nwhile time.time() - t < 30: pass"])
    try:
        time.sleep(4 * cpu.SHARE_MIN_S)  # no share() call meanwhile: the thread keeps the marks fresh
        loaded = s.share()
    finally:
        busy.kill()
        busy.wait()
    assert loaded is not None and loaded >= 0.4, (idle, loaded)
    assert len(s._marks) >= 3  # marked by the thread, not by the calls


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_share_sampler_restarts_in_a_forked_child():
    """The module's sampler (the one every ThreadChooser uses), through its own at-fork hook."""
    import time

    s = cpu._SAMPLER
    assert s.start()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: its own thread, a share after one window
        try:
            ok = s.start() and s._pid == os.getpid()
            time.sleep(2.5 * cpu.SHARE_MIN_S)
            ok = ok and s.share() is not None
            os.write(w, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(w)
    got = os.read(r, 1)
    os.waitpid(pid, 0)
    assert got == b"1"
