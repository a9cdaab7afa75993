"""Start-up stays light (issue 15): ``import omniembed`` and the CLI's help never import LanceDB, and
LanceDB is imported without its REST namespace client, which a local store never uses.

These check what gets imported (``sys.modules`` of a fresh interpreter), not how long it takes: the
timings are in ``bench/bench_startup.py``."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("lancedb", "lance_namespace", "pyarrow", "pandas", "faster_whisper", "onnxruntime", "rapidocr")


def _modules_after(code: str) -> set[str]:
    """Top-level packages imported by a fresh interpreter running ``code``."""
    probe = code + "\nimport sys, json\nprint(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_import_omniembed_imports_no_store_or_model_runtime():
    loaded = _modules_after("import omniembed, omniembed.store, omniembed.search, omniembed.indexer")
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


@pytest.mark.parametrize("command", ["embed", "search", "index", "status"])
def test_cli_help_imports_no_store_or_model_runtime(command):
    code = ("import sys\nfrom omniembed.cli import app\n"
            f"try:\n    app(args=[{command!r}, '--help'], prog_name='omniembed')\nexcept SystemExit as e:\n"
            "    assert e.code in (0, None), e.code")
    loaded = _modules_after(code)
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_opening_a_lancedb_store_reads_its_binding_without_lancedb(tmp_path):
    (tmp_path / "store.json").write_text(json.dumps({"backend": "lancedb", "profile": "p-1", "dims": 8}))
    code = (f"from omniembed.store import open_store\ns = open_store({str(tmp_path)!r})\n"
            "info = s.require_info()\nassert (info.profile, info.dims) == ('p-1', 8), info")
    assert "lancedb" not in _modules_after(code)


def test_lancedb_works_without_the_rest_client_until_something_asks_for_it(tmp_path):
    """A real store written and searched through the deferred import; the client package's own
    ``__init__`` (its REST API classes) runs only when one of its names is asked for."""
    code = f"""
import sys
import numpy as np
from omniembed.store import open_store
from omniembed.store.base import Record

s = open_store({str(tmp_path / 'store')!r})
s.bind("p-1", 4)
vec = np.array([1, 0, 0, 0], np.float32)
common = dict(vector=vec, file_id="f1", root="/r", path="a.txt", modality="text", text="kiwi plum")
s.replace_files([("f1", [Record(level="chunk", chunk=0, **common), Record(level="file", n_chunks=1, **common)])])
assert [h.record.path for h in s.search(vec, 5)] == ["a.txt", "a.txt"]
assert [h.record.path for h in s.search_text("kiwi", 5)]
client = sys.modules["lance_namespace_urllib3_client"]
assert not any(m.startswith("lance_namespace_urllib3_client.api.") for m in sys.modules), "REST API imported"
assert client.ApiClient.__name__ == "ApiClient"  # asked for: the real package __init__ runs now
assert "lance_namespace_urllib3_client.api.table_api" in sys.modules
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr
