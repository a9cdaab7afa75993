"""Index a real folder into real stores (LanceDB, Qdrant local), search it, re-index incrementally,
serve it over HTTP; plus clustering and zero-shot classification."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from media_factory import image_bytes, text_image, text_pdf
from omniembed import classify
from omniembed.errors import ProfileMismatch
from omniembed.indexer import Indexer
from omniembed.search import Searcher
from omniembed.store import open_store


def make_folder(d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    text_pdf(
        d / "manual.pdf",
        [
            ["Espresso machine EM-3 manual", "Fill the tank with fresh water before use."],
            ["Descaling", "Descale the boiler every two months with citric acid to remove limescale."],
        ],
    )
    (d / "slide.png").write_bytes(image_bytes(text_image(["Team offsite in Lisbon", "Flights booked for May"]), "PNG"))
    (d / "notes").mkdir(exist_ok=True)
    (d / "notes" / "groceries.md").write_text("# Groceries\n\nBuy oat milk, apples and dark chocolate.", encoding="utf-8")
    (d / "broken.pdf").write_bytes(b"%PDF-1.7 this is not really a pdf")
    return d


@pytest.fixture()
def folder(tmp_path) -> Path:
    return make_folder(tmp_path / "docs")


@pytest.mark.parametrize("backend", ["lancedb", "qdrant"])
def test_index_search_incremental(embedder, folder, tmp_path, backend):
    store = open_store(str(tmp_path / "store"), backend=backend)
    report = Indexer(store, embedder).run(folder, progress=False)
    assert report.new == 3
    assert [o.path for o in report.failed] == ["broken.pdf"] and report.failed[0].reason  # reported, not fatal

    searcher = Searcher(store, embedder=embedder)
    hits = searcher.search("how often should I remove limescale", k=3)
    assert hits[0].rel_path == "manual.pdf" and hits[0].page == 2  # points at the page
    assert "citric acid" in hits[0].snippet
    hits = searcher.search("Wann ist das Team-Offsite?", k=3)  # German query, English slide (OCR)
    assert hits[0].rel_path == "slide.png" and hits[0].modality == "image"
    only_text = searcher.search("chocolate", k=3, modalities=["text"])
    assert {h.modality for h in only_text} == {"text"}

    # unchanged files are skipped; a changed file is re-embedded; a deleted one removed
    again = Indexer(store, embedder).run(folder, progress=False)
    assert (again.new, again.changed, again.unchanged) == (0, 0, 3)
    (folder / "notes" / "groceries.md").write_text("# Groceries\n\nBuy coffee beans and rye bread.", encoding="utf-8")
    (folder / "slide.png").unlink()
    third = Indexer(store, embedder).run(folder, progress=False)
    assert (third.changed, third.removed, third.unchanged) == (1, 1, 1)
    paths = {h.rel_path for h in searcher.search("bread", k=10)}
    assert "slide.png" not in paths
    assert searcher.search("rye bread and coffee", k=1)[0].rel_path == "notes/groceries.md"
    assert store.count("file") == 2
    store.close()


def test_store_refuses_another_profile_size(dummy_embedder, folder, tmp_path):
    embedder = dummy_embedder  # the store's check is the point, not the vectors: no model
    store = open_store(str(tmp_path / "store"))
    Indexer(store, embedder).run(folder, progress=False)
    with pytest.raises(ProfileMismatch, match="Re-index"):
        Indexer(store, embedder, dims=128).run(folder, progress=False)
    store.close()


def test_killed_index_run_resumes_without_duplicates(folder, tmp_path):
    """SIGKILL mid-run — after the first batch of files was written, while the next is embedded — then
    the same command: every file once. The dummy profile (no model to load in either process), slowed to
    20 ms a token so the first run is still indexing when it is killed."""
    from omniembed.indexer import INDEX_BATCH

    n_notes = INDEX_BATCH + 8  # two batches
    for i in range(n_notes):
        (folder / f"note-{i:02d}.txt").write_text(f"Note {i}: the meeting about topic number {i} went well.", encoding="utf-8")
    store_path = tmp_path / "store"
    cmd = [sys.executable, "-m", "omniembed", "index", str(folder), "--store", str(store_path), "--quiet",
           "--profile", "dummy"]
    slow = {**os.environ, "OMNIEMBED_DUMMY_SECONDS_PER_TOKEN": "0.02"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=slow)
    data = store_path / "records.lance" / "data"
    deadline = time.time() + 300

    def committed() -> bool:
        # a data file appears before LanceDB commits the version that lists it: wait for the commit itself
        if not (data.is_dir() and any(data.iterdir())):
            return False
        try:
            st = open_store(str(store_path))
            try:
                return len(st.files()) > 0
            finally:
                st.close()
        except Exception:  # the binding or the table is still being created
            return False

    while time.time() < deadline and not committed():  # the first batch's commit
        time.sleep(0.05)
    assert proc.poll() is None, "the first run ended before it was killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    store = open_store(str(store_path))
    assert 0 < len(store.files()) < n_notes + 3, "killed before the first write or after the last"
    store.close()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    store = open_store(str(store_path))
    files = store.files()
    assert len(files) == n_notes + 3  # the notes + manual + slide + groceries, once each
    ids = [r.id for r in store.records("chunk", with_vectors=False)]
    assert len(ids) == len(set(ids))
    store.close()


def test_search_web_api_and_path_traversal(embedder, folder, tmp_path):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from omniembed.server.search_ui import create_search_app

    store = open_store(str(tmp_path / "store"))
    Indexer(store, embedder).run(folder, progress=False)
    app: FastAPI = create_search_app(store, embedder=embedder)
    client = TestClient(app)
    page = client.get("/search")
    assert page.status_code == 200 and "<input" in page.text
    res = client.get("/search/api/query", params={"q": "descaling the boiler"}).json()
    top = res["hits"][0]
    assert top["rel_path"] == "manual.pdf" and top["page"] == 2
    media = client.get(top["media_url"])
    assert media.status_code == 200 and media.content.startswith(b"%PDF")
    thumb = client.get(top["thumb_url"])
    assert thumb.status_code == 200 and thumb.content.startswith(b"\x89PNG")
    key = top["media_url"].split("/")[3]
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret", encoding="utf-8")
    for evil in ("../secret.txt", "..%2Fsecret.txt", "%2e%2e/secret.txt", "notes/../../secret.txt", "/etc/passwd"):
        r = client.get(f"/search/media/{key}/{evil}")
        assert r.status_code in (400, 403, 404), evil
        assert b"top secret" not in r.content
    # query by a dropped file
    png = image_bytes(text_image(["offsite Lisbon flights"]), "PNG")
    r = client.post("/search/api/query", files={"file": ("q.png", png, "image/png")}).json()
    assert r["hits"][0]["rel_path"] == "slide.png"
    store.close()


def test_zero_shot_classification(embedder):
    labels = ["cooking", "finance", "sports"]
    out = classify(
        ["Whisk the eggs and fold in the flour.", "Die Aktie fiel nach den Quartalszahlen um 8 %.", "He scored twice in the final."],
        labels,
        embedder=embedder,
    )
    assert [c.label for c in out] == labels


def test_cluster_command_groups_indexed_files(folder, tmp_path):
    for i, t in enumerate(["Bake bread with flour and yeast.", "Roast vegetables with olive oil.",
                           "The stock market fell sharply.", "Bond yields rose after the rate decision."]):
        (folder / f"c{i}.txt").write_text(t, encoding="utf-8")
    store = str(tmp_path / "store")
    env = dict(os.environ)
    # the dummy profile: that the command groups and names the indexed files is the point, not the groups
    subprocess.run([sys.executable, "-m", "omniembed", "index", str(folder), "--store", store, "--quiet",
                    "--profile", "dummy"], check=True, env=env, capture_output=True)
    out = subprocess.run([sys.executable, "-m", "omniembed", "cluster", "--store", store, "-k", "3"], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert "c0.txt" in out.stdout and "c2.txt" in out.stdout


def test_a_repeated_text_is_encoded_once_and_gets_the_same_vector(embedder):
    """The same line in two files and twice in one (the engine encodes it once and shares its vector):
    every piece equals what each file gets embedded on its own, and the encoder saw each text once."""
    import numpy as np

    a = ("Backups run every night at two.\nRestore tests happen monthly.\n"
         "Backups run every night at two.\nKeys are rotated each quarter.")
    b = "Restore tests happen monthly.\nThe on-call rota changes on Mondays."
    enc = embedder.engine.encoders.text
    seen: list[str] = []
    real = enc.encode

    def counting(texts, mode):
        seen.extend(texts)
        return real(texts, mode)

    enc.encode = counting
    try:
        together = embedder.embed_detailed([a, b], fine=True)
    finally:
        del enc.encode
    assert len(seen) == len(set(seen))  # each distinct text once
    assert sum(p.text == "Restore tests happen monthly." for r in together for p in r.pieces) == 2
    for res, text in zip(together, (a, b)):
        alone = embedder.embed_detailed([text], fine=True)[0]
        assert [p.text for p in res.pieces] == [p.text for p in alone.pieces]
        np.testing.assert_allclose(np.stack([p.vector for p in res.pieces]), np.stack([p.vector for p in alone.pieces]), atol=1e-6)
        np.testing.assert_allclose(res.vector, alone.vector, atol=1e-6)


def test_fine_windows_are_pieces_of_the_same_engine_call(embedder, tmp_path):
    """The line/sentence windows the indexer stores come from the engine (one request, the profile's
    encoder): tagged ``fine``, after the pooled pieces, not in the content vector, and each the vector
    the window gets when embedded on its own (what the indexer used to compute in a second pass)."""
    import numpy as np

    text = ("# Espresso machine\n\nDescale the boiler every two months with citric acid. "
            "Fill the tank with fresh water before use.\nNever open the steam valve while heating.")
    plain, fine = (embedder.embed_detailed([text], fine=f)[0] for f in (False, True))
    np.testing.assert_allclose(fine.vector, plain.vector, atol=1e-6)
    assert [p.level for p in plain.pieces] == ["chunk"]
    assert [p.level for p in fine.pieces][0] == "chunk" and len(fine.pieces) > 2
    assert {p.level for p in fine.pieces[1:]} == {"fine"} and fine.token_count == plain.token_count
    windows = [p.text for p in fine.pieces[1:]]
    assert "Never open the steam valve while heating." in windows
    alone = embedder.embed(windows)
    np.testing.assert_allclose(np.stack([p.vector for p in fine.pieces[1:]]), alone, atol=1e-5)

    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "espresso.md").write_text(text, encoding="utf-8")
    store = open_store(str(tmp_path / "store"))
    Indexer(store, embedder).run(folder, progress=False)
    chunks = sorted(store.records("chunk", with_vectors=False), key=lambda r: r.chunk)
    assert [r.text for r in chunks] == [p.text for p in fine.pieces]
    (file_rec,) = store.records("file", with_vectors=False)
    assert file_rec.n_chunks == 1
    store.close()


def test_a_batch_of_files_is_one_engine_call_per_modality_and_one_commit(dummy_embedder, tmp_path):
    """Issue 15: files are embedded together (one ``embed_each`` call per modality in a batch) and
    written in one LanceDB commit, yet every file is reported on its own — a corrupt or empty one
    fails alone — and gets exactly the records it gets when indexed by itself."""
    import numpy as np

    from omniembed.indexer import INDEX_BATCH

    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(5):
        (folder / f"note-{i}.txt").write_text(f"Note {i}: the boiler needs descaling every {i + 2} months.")
    (folder / "empty.txt").write_text("   \n")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.7 this is not really a pdf")
    calls = []
    real = dummy_embedder.embed_each

    def counting(contents, **kw):
        calls.append(len(contents))
        return real(contents, **kw)

    store = open_store(str(tmp_path / "store"))
    writes = []
    store.replace_file = lambda fid, recs: writes.append([fid])  # must not be called: one write per batch
    real_many = store.replace_files
    store.replace_files = lambda files: (writes.append([fid for fid, _ in files]), real_many(files))
    dummy_embedder.embed_each = counting
    try:
        report = Indexer(store, dummy_embedder).run(folder, progress=False)
    finally:
        del dummy_embedder.embed_each
    assert 7 <= INDEX_BATCH
    assert sorted(calls) == [1, 6]  # the pdf, then the six text files (one of them empty) together
    assert [len(w) for w in writes] == [5]  # one store write (one LanceDB commit) for the whole batch
    assert sorted(o.path for o in report.failed) == ["broken.pdf", "empty.txt"]
    assert report.new == 5 and all(o.seconds > 0 for o in report.outcomes)
    files = store.files()
    assert len(files) == 5
    alone = dummy_embedder.embed_detailed([folder / "note-3.txt"], fine=True)[0]
    recs = sorted((r for r in store.records("chunk") if r.path == "note-3.txt"), key=lambda r: r.chunk)
    assert [r.text for r in recs] == [p.text for p in alone.pieces]
    np.testing.assert_allclose(np.stack([r.vector for r in recs]), np.stack([p.vector for p in alone.pieces]),
                               atol=1e-5)
    store.close()


def test_a_broken_batched_call_embeds_each_file_alone_without_hashing_it_again(dummy_embedder, tmp_path,
                                                                             monkeypatch):
    """When the batched call itself breaks (not one file's typed error), every file of the group is
    embedded on its own and reported on its own; each file is still read for its hash once."""
    import omniembed.indexer as indexer_mod

    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(3):
        (folder / f"note-{i}.txt").write_text(f"Note {i}: the ferry leaves at {i + 6} o'clock from pier {i}.")
    hashed: list[str] = []
    real_hash = indexer_mod.sha256_file
    monkeypatch.setattr(indexer_mod, "sha256_file", lambda p: (hashed.append(Path(p).name), real_hash(p))[1])

    def broken(contents, **kw):
        raise RuntimeError("the batched call broke")

    monkeypatch.setattr(dummy_embedder, "embed_each", broken)
    store = open_store(str(tmp_path / "store"))
    report = Indexer(store, dummy_embedder).run(folder, progress=False)
    assert report.new == 3 and not report.failed
    assert sorted(hashed) == ["note-0.txt", "note-1.txt", "note-2.txt"]
    assert sorted(store.files()[fid].path for fid in store.files()) == sorted(hashed)
    store.close()
