"""The first ```python block of each page in docs/integrations/ is a runnable example: run it.

Each example builds its own small index, queries it and asserts the answer, so a docs example that
drifts from the code fails here. They run in a temporary directory (they create stores there).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs" / "integrations"
PAGES = ["langchain.md", "llamaindex.md", "haystack.md", "chroma.md", "qdrant.md", "lancedb.md"]


def first_python_block(page: Path) -> str:
    m = re.search(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), re.DOTALL)
    assert m, f"{page.name} has no python example"
    return m.group(1)


@pytest.mark.parametrize("page", PAGES)
def test_docs_example_runs(page, tmp_path, monkeypatch, embedder, capsys):
    os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
    code = first_python_block(DOCS / page)
    monkeypatch.chdir(tmp_path)
    # dont_inherit: the example must not pick up this module's `from __future__ import annotations`
    exec(compile(code, str(DOCS / page), "exec", dont_inherit=True), {"__name__": f"docs_{page[:-3]}"})
    assert capsys.readouterr().out.strip(), "the example prints its answer"


def test_every_page_is_listed_in_the_index():
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    for page in PAGES + ["clients.md"]:
        assert f"({page})" in index, page
