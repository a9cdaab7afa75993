"""The search page end to end: `omniembed index` the bundled samples, `omniembed serve --store`, then a
real headless Chromium (Debian's, driven by Playwright) types a query, reads the results and takes a
screenshot."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from server_harness import ServerProcess

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    if not CHROMIUM.exists():
        pytest.fail("Debian chromium is not installed; run scripts/setup.sh (make test does)")
    d = tmp_path_factory.mktemp("web")
    # the bundled samples but the three voice notes (MP3): what the page shows and this test checks (the
    # video hit and its player, PDF and image previews) are in the rest; Whisper on the notes was the
    # index run's biggest cost
    samples = d / "samples"
    shutil.copytree(ROOT / "samples", samples, ignore=shutil.ignore_patterns("*.mp3"))
    store = d / "store"
    subprocess.run(
        [sys.executable, "-m", "omniembed", "index", str(samples), "--store", str(store), "--quiet"],
        check=True,
        capture_output=True,
        timeout=900,
    )
    with ServerProcess(d / "data", "--store", str(store)) as srv:
        yield srv


def test_search_page_in_chromium(served, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        # Playwright starts Chromium with a fresh, empty profile directory of its own
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.goto(served.url + "/search")
            page.wait_for_function("document.getElementById('info').textContent.includes('files indexed')")
            page.fill("#q", "how do I isolate the energy source before maintenance")
            page.click("#go")
            page.wait_for_selector("li.hit")
            hits = page.locator("li.hit")
            assert hits.count() >= 3
            names = page.locator("li.hit .title a").all_text_contents()
            assert "training-lockout.mp4" in names[:3]
            # the video hit's player starts at the hit's timestamp
            src = page.locator("li.hit[data-modality=video] video").first.get_attribute("src")
            assert "#t=" in src
            # PDF/image hits show a rendered preview that actually loaded
            page.wait_for_function(
                "[...document.querySelectorAll('li.hit img')].every(i => i.complete && i.naturalWidth > 0)"
            )
            assert "results for" in page.locator("#status").text_content()
            shot = tmp_path / "search.png"
            page.screenshot(path=str(shot), full_page=False)
        finally:
            browser.close()
    img = np.asarray(Image.open(shot).convert("L"), dtype=np.float32)
    assert img.shape[:2] == (900, 1200)
    assert img.std() > 20  # not a blank page: text, thumbnails and players are drawn
    assert (img < 100).mean() > 0.01  # some dark text on the page
