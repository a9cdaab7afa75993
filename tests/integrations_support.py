"""Shared data and helpers of the framework-integration tests (tests/test_integrations_*.py).

A tiny corpus with one clearly right answer per query (one query in German, to show cross-lingual
search), images whose only content is printed text (the lite profile reads them with OCR), and a
fixture-free helper that starts ``omniembed serve`` as a subprocess for the wire-client tests.
"""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

DOCS = [
    "The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, France.",
    "Bananas are a good source of potassium, vitamin B6 and dietary fibre.",
    "Python is a programming language whose design emphasises code readability.",
    "The Great Barrier Reef off the coast of Queensland, Australia, is the largest coral reef system.",
]

#: (query, index of the document that must rank first)
QUERIES = [
    ("Which landmark stands in Paris?", 0),
    ("what fruit contains potassium", 1),
    ("Wo liegt das größte Korallenriff der Welt?", 3),
]

#: Printed text on a plain background: what each synthetic image "shows" to the lite profile.
IMAGE_TEXTS = [
    "INVOICE\nTotal due: 420 EUR\nPay by bank transfer",
    "BOARDING PASS\nFlight LH 123 to Tokyo\nGate 7",
]
IMAGE_QUERIES = [("how much money do I owe on the invoice", 0), ("which gate does my flight to Tokyo leave from", 1)]

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def text_image_array(text: str, size: tuple[int, int] = (420, 150)) -> np.ndarray:
    """An RGB uint8 array (H×W×3) with ``text`` printed in black on white (small: OCR time grows with pixels)."""
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(FONT, 22) if os.path.exists(FONT) else ImageFont.load_default(22)
    draw.multiline_text((12, 12), text, fill="black", font=font, spacing=8)
    return np.asarray(img)


def text_image_png(text: str) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(text_image_array(text)).save(buf, format="PNG")
    return buf.getvalue()


def rank(query_vec, doc_vecs) -> list[int]:
    """Document indices by descending cosine similarity."""
    q = np.asarray(query_vec, dtype=np.float32)
    d = np.asarray(doc_vecs, dtype=np.float32)
    scores = d @ q / (np.linalg.norm(d, axis=1) * np.linalg.norm(q))
    return list(np.argsort(-scores))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_available() -> bool:
    """True when the omniembed server package exists in this checkout (it is built in parallel)."""
    try:
        import omniembed.server  # noqa: F401
    except Exception:
        return False
    return (ROOT / "src" / "omniembed" / "server" / "__init__.py").exists()


class ServerProcess:
    """``omniembed serve --port N`` as a subprocess; ``.url`` once it answers."""

    def __init__(self, *extra_args: str, env: dict[str, str] | None = None, timeout: float = 120.0):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        exe = Path(sys.executable).with_name("omniembed")
        cmd = [str(exe), "serve", "--host", "127.0.0.1", "--port", str(self.port), *extra_args]
        # A file, not a pipe: an unread pipe fills up with access-log lines and blocks the server.
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=self.log, stderr=subprocess.STDOUT
        )
        self._wait(timeout)

    def _wait(self, timeout: float) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"omniembed serve exited with {self.proc.returncode}:\n{self.output()[-3000:]}")
            try:
                r = httpx.get(f"{self.url}/v1beta/models", timeout=2.0)
                if r.status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"omniembed serve did not answer on {self.url} within {timeout:.0f} s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.log.close()

    def output(self) -> str:
        """What the server printed so far (for failure messages)."""
        self.log.seek(0)
        return self.log.read().decode(errors="replace")
