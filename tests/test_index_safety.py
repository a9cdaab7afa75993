"""The search page serves only the files that were indexed, unchanged (issue 11, item 5), and the indexer
reports every file it leaves out (item 6): symlinks out of the folder, broken ones, FIFOs, sockets."""

from __future__ import annotations

import os
import socket

import pytest
from fastapi.testclient import TestClient
from starlette.responses import FileResponse

from media_factory import image_bytes, text_image
from omniembed.indexer import Indexer
from omniembed.server.search_ui import create_search_app
from omniembed.store import open_store


@pytest.fixture()
def indexed(dummy_embedder, tmp_path):
    """A folder indexed on the dummy profile (encoders/dummy.py: no model; which files the page serves is
    the point, not how well they rank — with two files both are hits)."""
    embedder = dummy_embedder
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "slide.png").write_bytes(image_bytes(text_image(["Team offsite in Lisbon"]), "PNG"))
    (folder / "note.txt").write_text("Descale the espresso machine every two months with citric acid.")
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:top secret account\n" * 3)
    store = open_store(str(tmp_path / "store"))
    Indexer(store, embedder).run(folder, progress=False)
    client = TestClient(create_search_app(store, embedder=embedder))
    hits = {h["rel_path"]: h for h in client.get("/search/api/query", params={"q": "espresso", "k": 5}).json()["hits"]}
    yield folder, secret, client, hits
    store.close()


def test_unchanged_files_are_served(indexed):
    folder, _, client, hits = indexed
    r = client.get(hits["note.txt"]["media_url"])
    assert r.status_code == 200 and r.content == (folder / "note.txt").read_bytes()
    r = client.get(hits["note.txt"]["media_url"], headers={"Range": "bytes=0-5"})
    assert r.status_code == 206 and r.content == b"Descal"
    assert client.get(hits["slide.png"]["thumb_url"]).content.startswith(b"\x89PNG")


def test_a_hard_link_swapped_in_is_not_served(indexed):
    folder, secret, client, hits = indexed
    (folder / "note.txt").unlink()
    os.link(secret, folder / "note.txt")  # same path, another file's inode
    for url in (hits["note.txt"]["media_url"], hits["slide.png"]["thumb_url"].replace("slide.png", "note.txt")):
        r = client.get(url)
        assert r.status_code in (404, 409), r.status_code
        assert b"top secret" not in r.content


def test_same_size_and_mtime_but_other_bytes_is_not_served(indexed):
    folder, _, client, hits = indexed
    note = folder / "note.txt"
    st = note.stat()
    data = note.read_bytes()
    note.write_bytes(b"X" * len(data))  # rewritten in place, then its times put back
    os.utime(note, ns=(st.st_atime_ns, st.st_mtime_ns))
    r = client.get(hits["note.txt"]["media_url"])
    assert r.status_code == 409 and b"XXXX" not in r.content
    assert "index again" in r.json()["detail"]
    r = client.get(hits["slide.png"]["media_url"])  # the other file is still fine
    assert r.status_code == 200 and r.content.startswith(b"\x89PNG")


def test_the_inode_check_stays_wired_into_starlette():
    # _VerifiedFile re-checks the opened file's inode in FileResponse._open_file; if Starlette stops
    # opening files there, the check would silently stop running
    assert callable(getattr(FileResponse, "_open_file", None))


def test_the_indexer_reports_what_it_leaves_out(dummy_embedder, tmp_path):
    embedder = dummy_embedder  # the walk and the report are the point: no model
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "note.txt").write_text("Apples, pears and plums from the orchard.")
    (tmp_path / "outside.txt").write_text("outside the indexed folder")
    (folder / "escape.txt").symlink_to(tmp_path / "outside.txt")
    (folder / "dangling.txt").symlink_to(tmp_path / "missing.txt")
    (folder / "inside-link.txt").symlink_to(folder / "note.txt")
    os.mkfifo(folder / "pipe.txt")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(folder / "sock.md"))
    try:
        store = open_store(str(tmp_path / "store"))
        report = Indexer(store, embedder).run(folder, progress=False)  # a FIFO must not block the walk
    finally:
        sock.close()
    skipped = {o.path: o.reason for o in report.skipped}
    assert set(skipped) == {"escape.txt", "dangling.txt", "pipe.txt", "sock.md"}, skipped
    assert "outside" in skipped["escape.txt"] and "broken" in skipped["dangling.txt"]
    assert "FIFO" in skipped["pipe.txt"] and "socket" in skipped["sock.md"]
    assert {o.path for o in report.outcomes if o.status == "new"} == {"note.txt", "inside-link.txt"}
    store.close()


def test_walk_lists_regular_files_depth_first_with_their_stat(tmp_path):
    from omniembed.indexer import walk

    root = tmp_path / "r"
    for d in ("a", "b/c", ".hidden", "store"):
        (root / d).mkdir(parents=True)
    contents = {"z.txt": "1", "a/x.md": "22", "b/y.pdf": "333", "b/c/w.txt": "4444", "b/notes.xyz": "55555",
                ".hidden/h.txt": "6", ".dot.txt": "7", "store/s.txt": "8"}
    for rel, text in contents.items():
        (root / rel).write_text(text)
    (root / "linked").symlink_to(root / "a", target_is_directory=True)
    skipped: list[tuple[str, str]] = []
    found = list(walk(root, skip=(root / "store",), on_skip=lambda p, why: skipped.append((p.name, why))))
    # this folder's files (sorted) before its sub-folders (sorted), hidden ones and the skipped store left out
    assert [f.rel for f in found] == ["z.txt", "a/x.md", "b/notes.xyz", "b/y.pdf", "b/c/w.txt"]
    for f in found:
        st = (root / f.rel).stat()
        assert (f.size, f.mtime_ns, f.path) == (st.st_size, st.st_mtime_ns, root.resolve() / f.rel)
    assert [f.modality for f in found] == ["text", "text", None, "pdf", "text"]
    assert skipped == [("linked", "a symlink to a folder (symlinked folders are not followed)")]
    hidden = {f.rel for f in walk(root, skip=(root / "store",), include_hidden=True)}
    assert {".dot.txt", ".hidden/h.txt"} <= hidden
