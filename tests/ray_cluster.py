"""A real two-node Ray cluster on this machine, on 127.0.0.1 only (tests/test_ray_index.py, bench/bench_ray.py).

``ray start --head`` and a second ``ray start --address`` node process, one CPU each, no dashboard, a
small object store. Ray turns ``127.0.0.1`` into the machine's outward address on Linux
(``services.resolve_ip_for_localhost``): with ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` it keeps the loopback
address (its single-machine mode), but ``ray start --address`` then refuses to add a node, so the second
node is started through Ray's own CLI entry point with only that refusal lifted. Every process — head,
node, workers and drivers — then talks over 127.0.0.1. Drivers need the same environment (:func:`env`).
"""

from __future__ import annotations

import os
import subprocess
import sys
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
    head = subprocess.run([str(BIN / "ray"), "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port),
                           "--include-dashboard", "false", *common], env=e, capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip
    if head.returncode:
        raise RuntimeError(f"ray start --head failed: {head.stdout}{head.stderr}")
    address = f"127.0.0.1:{port}"
    node = subprocess.run([sys.executable, "-c", _SECOND_NODE, "start", "--address", address, *common], env=e,
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip
    if node.returncode:
        stop()
        raise RuntimeError(f"ray start --address failed: {node.stdout}{node.stderr}")
    return address


def stop(timeout: float = 120) -> None:
    """``ray stop --force``: every Ray process this user started on the machine."""
    subprocess.run([str(BIN / "ray"), "stop", "--force"], env=env(), capture_output=True, timeout=timeout)
