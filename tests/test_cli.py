"""The command line as a user's shell sees it: real subprocesses, real exit codes, real stdin and stderr.

Optional extras are made absent the way an uninstalled package is absent: an import hook that raises
``ModuleNotFoundError`` for those top-level modules, in a fresh interpreter (the installed CLI otherwise).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import httpx
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from omniembed import __version__
from omniembed.cli import ExitCode
from omniembed.store import open_store

from media_gen import ffmpeg, speak
from server_harness import ROOT, free_port

_WITHOUT = """
import importlib.abc, sys
BLOCKED = set(sys.argv[1].split(","))
class _Uninstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, _Uninstalled())
sys.argv = ["omniembed"] + sys.argv[2:]
from omniembed.cli import main
main()
"""


def cli(*args: str, stdin: bytes | None = None, env: dict | None = None, without: str | None = None,
        timeout: float = 300) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-c", _WITHOUT, without, *args] if without else [sys.executable, "-m", "omniembed", *args]
    return subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout, cwd=ROOT,
                          env={**os.environ, "COLUMNS": "200", **(env or {})})


def _vectors(out: bytes) -> list[np.ndarray]:
    return [np.asarray(r["values"], np.float32) for r in json.loads(out)]


@pytest.fixture(scope="module")
def png(tmp_path_factory):
    img = Image.new("RGB", (900, 220), "white")
    ImageDraw.Draw(img).text((30, 70), "Quarterly invoice total", fill="black",
                             font=ImageFont.load_default(size=56))
    path = tmp_path_factory.mktemp("cli") / "invoice.png"
    img.save(path)
    return path


def test_version_and_help_lists_the_eight_task_types():
    r = cli("--version")
    assert r.returncode == 0 and r.stdout.decode().strip() == f"omniembed {__version__}"
    r = cli("embed", "--help")
    assert r.returncode == 0
    text = r.stdout.decode()
    for t in ("SEMANTIC_SIMILARITY", "CLASSIFICATION", "CLUSTERING", "RETRIEVAL_DOCUMENT", "RETRIEVAL_QUERY",
              "CODE_RETRIEVAL_QUERY", "QUESTION_ANSWERING", "FACT_VERIFICATION"):
        assert t in text
    assert "exit codes" in cli("--help").stdout.decode().lower()


def test_usage_errors_exit_2_and_keep_square_brackets():
    r = cli("embed", "-t", "[bold]QUERY", "hello")
    assert r.returncode == ExitCode.USAGE == 2
    assert "'[bold]QUERY'" in r.stderr.decode()  # the value as typed, not eaten as markup
    assert cli("embed", "--no-such-option", "x").returncode == 2
    assert cli("search", "--store", "nowhere").returncode == 2  # neither a query nor a file


#: The tests below check what the command line does with its arguments, stdin and environment; the dummy
#: profile (encoders/dummy.py: no model to load in each subprocess) gives vectors as deterministic as e5's.
DUMMY = ("--profile", "dummy")


def test_missing_file_is_an_input_error_and_text_embeds_the_string(dummy_embedder):
    embedder = dummy_embedder
    r = cli("embed", "missing-file.pdf")
    assert r.returncode == ExitCode.INPUT == 3
    err = r.stderr.decode()
    assert "no such file" in err and "missing-file.pdf" in err and "--text" in err and not r.stdout
    assert cli("embed", "./drafts/notes").returncode == 3
    r = cli("embed", *DUMMY, "--text", "missing-file.pdf", "a dog on a beach")
    assert r.returncode == 0, r.stderr.decode()
    got = _vectors(r.stdout)
    want = embedder.embed(["missing-file.pdf", "a dog on a beach"])
    assert [float(g @ w) > 0.999 for g, w in zip(got, want)] == [True, True]
    # ordinary sentences with dots or slashes stay text
    r = cli("embed", *DUMMY, "e.g. the cat sat on the mat.", "read it at /r/python and/or there")
    assert r.returncode == 0 and len(_vectors(r.stdout)) == 2


def test_stdin_bytes_are_sniffed_and_lines_split(dummy_embedder, png):
    from omniembed import Part

    embedder = dummy_embedder
    r = cli("embed", *DUMMY, "-", stdin=png.read_bytes())
    assert r.returncode == 0, r.stderr.decode()
    (got,) = _vectors(r.stdout)
    want = embedder.embed([Part.from_bytes(png.read_bytes())])[0]
    assert float(got @ want) > 0.999  # the same image vector as the file, from a pipe
    r = cli("embed", *DUMMY, "--lines", "-", stdin="first line about rivers\n\nsecond about deserts\n".encode())
    assert r.returncode == 0
    got = _vectors(r.stdout)
    want = embedder.embed(["first line about rivers", "second about deserts"])
    assert len(got) == 2 and all(float(g @ w) > 0.999 for g, w in zip(got, want))
    assert cli("embed", *DUMMY, "-", stdin=b"   \n").returncode == 3


def test_progress_bar_on_request_leaves_stdout_clean():
    texts = [f"sentence number {i} about the sea" for i in range(40)]
    r = cli("embed", *DUMMY, "--progress", *texts)
    assert r.returncode == 0
    assert len(json.loads(r.stdout)) == 40
    assert "40/40" in r.stderr.decode()  # the bar (rich, on stderr) reached the end
    assert "40/40" not in cli("embed", *DUMMY, *texts[:3]).stderr.decode()  # not a terminal: no bar by default


def test_audio_and_video_without_the_media_extra_name_it(tmp_path):
    wav = speak(tmp_path / "hello.wav", "hello from the speech test")
    mp4 = tmp_path / "clip.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=160x120:rate=5:duration=1", "-pix_fmt", "yuv420p", str(mp4))
    for f in (wav, mp4):
        r = cli("embed", str(f), without="av,faster_whisper,ctranslate2")
        err = r.stderr.decode()
        assert r.returncode == ExitCode.MISSING_DEPENDENCY == 4, err
        assert "pip install 'omniembed[media]'" in err and "Traceback" not in err
    # the library raises the typed error (the server answers 501 with it)
    code = ("import sys; from pathlib import Path; from omniembed import Embedder; from omniembed.errors import MissingDependency\n"
            "try:\n    Embedder().embed(Path(sys.argv[1]))\nexcept MissingDependency as e:\n    print('typed', e)\n")
    r = subprocess.run([sys.executable, "-c", _WITHOUT.replace("from omniembed.cli import main\nmain()", code),
                        "av", str(wav)], capture_output=True, timeout=300)
    assert r.stdout.decode().startswith("typed ") and "omniembed[media]" in r.stdout.decode()


def test_serve_without_the_server_extra_names_it():
    r = cli("serve", without="uvicorn")
    assert r.returncode == 4
    assert "pip install 'omniembed[server]'" in r.stderr.decode()


def test_index_json_and_options_from_the_environment(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("Glaciers carve deep valleys over thousands of years.")
    (folder / "b.md").write_text("# Bees\n\nBees pollinate orchards in spring.")
    (folder / "bad.pdf").write_bytes(b"%PDF-1.4 truncated")
    store = tmp_path / "store"
    r = cli("index", str(folder), *DUMMY, "--json", "--quiet", env={"OMNIEMBED_INDEX_STORE": str(store)})
    assert r.returncode == 0, r.stderr.decode()
    report = json.loads(r.stdout)
    assert report["store"].endswith("store") and store.exists()  # the store came from the environment
    assert report["new"] == 2 and report["indexed"] == 2 and [f["path"] for f in report["failed"]] == ["bad.pdf"]
    assert report["by_modality"]["text"]["files"] == 2
    again = json.loads(cli("index", str(folder), *DUMMY, "--json", "--store", str(store)).stdout)
    assert again["unchanged"] == 2 and again["new"] == 0


def test_index_no_fine_stores_pieces_only(tmp_path):
    """``--no-fine``: each file's pieces only, no sentence records (the cheaper index, docs/search.md)."""
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("Glaciers carve deep valleys. They move a few metres a year. Meltwater feeds rivers.")
    chunks = {}
    for flag in ("--fine", "--no-fine"):
        r = cli("index", str(folder), *DUMMY, "--json", "--quiet", flag, "--store", str(tmp_path / flag))
        assert r.returncode == 0, r.stderr.decode()
        assert json.loads(r.stdout)["files"][0]["chunks"] == 1  # the pieces the file's vector pools
        with open_store(str(tmp_path / flag)) as st:
            chunks[flag] = st.count("chunk")
    assert chunks == {"--fine": 4, "--no-fine": 1}  # one piece, plus its three sentences by default


def test_serve_options_from_the_environment(tmp_path):
    port = free_port()
    env = {**os.environ, "OMNIEMBED_SERVE_PORT": str(port), "OMNIEMBED_SERVE_DATA_DIR": str(tmp_path),
           "OMNIEMBED_SERVE_MODEL_ALIAS": "gemini-embedding-2 text-embedding-3-small"}
    proc = subprocess.Popen([sys.executable, "-m", "omniembed", "serve"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                models = httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=2).json()
                break
            except httpx.HTTPError:
                assert proc.poll() is None, "the server exited"
                time.sleep(0.3)
        ids = [m["id"] for m in models["data"]]
        assert "gemini-embedding-2" in ids and "text-embedding-3-small" in ids
        assert (tmp_path / "jobs.sqlite3").exists()
    finally:
        proc.terminate()
        proc.wait(60)
