"""Start ``omniembed serve`` as a real subprocess on a free loopback port, for the server tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from ports import free_port  # noqa: F401 — re-exported: tests import it from here

ROOT = Path(__file__).resolve().parent.parent
CLI = Path(sys.executable).with_name("omniembed")


#: ``omniembed serve`` arguments for the dummy profile (omniembed/encoders/dummy.py): no model loads in
#: the server or its workers, vectors are deterministic (hashed words), and the names tests use are its
#: aliases. For tests of the wire, the server and its limits, where the model's quality is not the point.
DUMMY = ("--profile", "dummy", "--model-alias", "omniembed-lite", "--model-alias", "omniembed-lite-1")
DUMMY_PROFILE = "omniembed-dummy-1"
#: Environment that makes the dummy encoder take this long per token (sleeping, not computing), for
#: tests that need work to be in progress: queues that fill, jobs killed mid-way.
SLOW_ENV = "OMNIEMBED_DUMMY_SECONDS_PER_TOKEN"


class ServerProcess:
    """``with ServerProcess(data_dir, "--api-key", "k") as srv: srv.url``; stops with SIGTERM on exit.

    ``dummy=True`` serves the dummy profile (:data:`DUMMY`); ``env`` adds environment variables."""

    def __init__(self, data_dir: Path, *args: str, port: int | None = None, ready: bool = True,
                 dummy: bool = False, env: dict[str, str] | None = None):
        self.data_dir = Path(data_dir)
        self.dummy = dummy
        self.env = dict(env or {})
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = [*(DUMMY if dummy else ()), *args]
        self.wait_ready = ready
        self.proc: subprocess.Popen | None = None
        self.log_path = self.data_dir / f"server-{self.port}.log"

    def start(self) -> "ServerProcess":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")
        cmd = [str(CLI), "serve", "--port", str(self.port), "--data-dir", str(self.data_dir), *self.args]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env})
        deadline = time.monotonic() + 120
        path = "/readyz" if self.wait_ready else "/healthz"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.url + path, timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server not ready in 120 s:\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers run (the crash the batch jobs must survive)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        self._log.close()

    def stop(self, timeout: float = 60) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()
        return self.proc.returncode

    def __enter__(self) -> "ServerProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
