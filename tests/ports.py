"""Free loopback ports for the servers and Ray nodes the tests start, safe under ``pytest -n 2``.

A port is found by binding port 0 and closing the socket; the server binds it a moment later. Two
pytest-xdist workers could be handed the same port in that moment and one would then talk to the other's
server. Each worker therefore only takes ports ``p`` with ``(p // 2) % workers == worker index``: the
workers' sets are disjoint, so they never collide with each other (other programs on the machine are the
same small risk as without xdist). ``p // 2``, not ``p``: Linux hands out only odd ports for ``bind`` to
port 0 (even ones are kept for ``connect``), so ``p % 2`` would leave one worker with none. Without xdist
every port qualifies.
"""

from __future__ import annotations

import os
import socket


def _worker() -> tuple[int, int]:
    """(index, count) of this pytest-xdist worker; (0, 1) outside xdist."""
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 1)
    name = os.environ.get("PYTEST_XDIST_WORKER", "gw0")  # "gw0", "gw1", …
    index = int(name[2:]) if name.startswith("gw") and name[2:].isdigit() else 0
    return index % max(count, 1), max(count, 1)


def free_port() -> int:
    index, count = _worker()
    for _ in range(200 * count):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if (port // 2) % count == index:
            return port
    raise RuntimeError(f"no free loopback port for xdist worker {index} of {count}")
