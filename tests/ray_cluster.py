"""A real two-node Ray cluster on this machine, on 127.0.0.1 only (tests/test_ray_index.py, bench/bench_ray.py).

``ray start --head`` and a second ``ray start --address`` node process, one CPU each, no dashboard, a
small object store. Each ``ray start`` runs in a session of its own, and :func:`stop` ends exactly the
processes of those sessions: not ``ray stop``, which ends every Ray process of the user (another suite's
cluster, a user's own). Ray turns ``127.0.0.1`` into the machine's outward address on Linux
(``services.resolve_ip_for_localhost``): with ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` it keeps the loopback
address (its single-machine mode), but ``ray start --address`` then refuses to add a node, so the second
node is started through Ray's own CLI entry point with only that refusal lifted. Every process — head,
node, workers and drivers — then talks over 127.0.0.1. Drivers need the same environment (:func:`env`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ports import free_port  # noqa: F401 — disjoint per pytest-xdist worker; tests import it from here

BIN = Path(sys.executable).parent

_SECOND_NODE = """
import sys, types
import ray.scripts.scripts as s
rc = s.ray_constants
s.ray_constants = types.SimpleNamespace(**{k: getattr(rc, k) for k in dir(rc) if not k.startswith("__")})
s.ray_constants.ENABLE_RAY_CLUSTER = True  # only the CLI's multi-node refusal; addresses stay loopback
sys.argv = ["ray"] + sys.argv[1:]
s.main()
"""


def env(**extra: str) -> dict:
    """The environment of every Ray process here: loopback addresses, no usage reporting."""
    return dict(os.environ, RAY_USAGE_STATS_ENABLED="0", RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", **extra)


def start(cpus_per_node: int = 1, object_store_mb: int = 80, worker_env: dict | None = None,
          timeout: float = 180) -> str:
    """Start the head and a second node; returns the head's ``127.0.0.1:PORT``. ``worker_env`` goes
    to every Ray process (workers inherit it from their node)."""
    e = env(**(worker_env or {}))
    port = free_port()
    common = ["--num-cpus", str(cpus_per_node), "--object-store-memory", str(object_store_mb * 2**20),
              "--disable-usage-stats"]  # fmt: skip
    head = _run_in_new_session([str(BIN / "ray"), "start", "--head", "--node-ip-address", "127.0.0.1", "--port",
                                str(port), "--include-dashboard", "false", *common], e, timeout)  # fmt: skip
    if head.returncode:
        stop()
        raise RuntimeError(f"ray start --head failed: {head.stdout}{head.stderr}")
    address = f"127.0.0.1:{port}"
    node = _run_in_new_session([sys.executable, "-c", _SECOND_NODE, "start", "--address", address, *common], e,
                               timeout)  # fmt: skip
    if node.returncode:
        stop()
        raise RuntimeError(f"ray start --address failed: {node.stdout}{node.stderr}")
    return address


#: session ids of the ``ray start`` runs of this process: every daemon and worker they leave behind
#: carries one (Ray starts its processes without a session of their own)
_SESSIONS: list[int] = []


def _run_in_new_session(cmd: list[str], env: dict, timeout: float) -> subprocess.CompletedProcess:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # fmt: skip
    _SESSIONS.append(proc.pid)  # the session leader's pid is the session id
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def session_pids(sessions: list[int] | None = None) -> list[int]:
    """The live processes in the sessions of this module's ``ray start`` runs (or of ``sessions``)."""
    sids = set(_SESSIONS if sessions is None else sessions)
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit() and int(d.name) != os.getpid():
            try:
                if os.getsid(int(d.name)) in sids:
                    out.append(int(d.name))
            except OSError:
                continue
    return out


def stop(grace: float = 15.0) -> None:
    """End every process of the clusters this module started (SIGTERM, then SIGKILL after ``grace``
    seconds); other Ray clusters on the machine are left alone."""
    pids = session_pids()
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        deadline = time.monotonic() + wait
        while pids and time.monotonic() < deadline:
            time.sleep(0.2)
            pids = session_pids()
        if not pids:
            break
    _SESSIONS.clear()
