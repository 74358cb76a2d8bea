"""Data loss: a person's edits while kbc works, property edits and --full, two inputs naming
one origin, same-titled notes at once, and the compile-owned cases (unreadable notes, renames)."""
from __future__ import annotations

import threading

from tests.attacks import Lab, Lost, attack, requests_of, wait_for
from tests.attacks.leaks import _serving

WRITE = "concept_articles"


def _concepts(root) -> dict:
    return {p.stem: p for p in (root / "wiki" / "concepts").glob("*.md")}


@attack("a person edits pages while compile waits for the model")
def edit_during_wait(lab: Lab) -> None:
    root = lab.vault()
    assert lab.kbc(root, "compile").returncode == 0
    for note in (root / "raw").glob("*.md"):  # every concept is rewritten from new claims
        note.write_text(note.read_text() + "\nPaxos, Raft and Leases all need a Majority Quorum.\n")
    lab.server.delays[WRITE] = 2.0
    seen = len(requests_of(lab.server, WRITE))
    process = lab.popen(root, "compile")
    wait_for(lambda: len(requests_of(lab.server, WRITE)) > seen, timeout=90)
    edited = {}
    for name, path in _concepts(root).items():
        text = path.read_text().replace("\n# ", "\nMy own note, typed while kbc worked.\n\n# ", 1)
        path.write_text(text)
        edited[name] = text
    _, err = lab.finish(process, timeout=120)
    assert process.returncode == 0, err
    assert "changed by a person while kbc worked" in err, err
    for name, text in edited.items():
        path = root / "wiki" / "concepts" / f"{name}.md"
        if not path.exists() or "My own note, typed while kbc worked." not in path.read_text():
            raise Lost(f"the edit to {name} was overwritten")
    assert (root / "wiki" / "proposals").is_dir() and list((root / "wiki" / "proposals").glob("*.md"))


@attack("a property-only edit (tags, aliases) survives compile --full")
def property_edit(lab: Lab) -> None:
    root = lab.vault()
    assert lab.kbc(root, "compile").returncode == 0
    name, path = sorted(_concepts(root).items())[0]
    text = path.read_text().replace("tags:\n- concept\n", "tags:\n- concept\n- reviewed-by-me\n", 1)
    assert text != path.read_text()
    path.write_text(text)
    done = lab.kbc(root, "compile", "--full")
    assert done.returncode == 0, done.stderr
    if "reviewed-by-me" not in path.read_text():
        raise Lost(f"the tag added to {name} was lost on --full")


@attack("ingest: a note whose source: names a URL already ingested")
def same_origin(lab: Lab) -> None:
    root = lab.vault(sample=False)
    page = (b"<html><head><title>Origin page</title></head><body><article><h1>Origin page</h1><p>"
            + b"Paxos reaches consensus with a majority of acceptors. " * 20 + b"</p></article></body></html>")
    with _serving({"/post": ("text/html", page)}) as base:
        first = lab.kbc(root, "ingest", base + "/post")
        assert first.returncode == 0, first.stderr
        [note] = list((root / "raw").glob("*.md"))
        original = note.read_bytes()
        clip = lab.tmp / "clip.md"
        clip.write_text(f"---\nsource: {base}/post\n---\n\n# My clipping\n\nMy own highlights of the post.\n")
        second = lab.kbc(root, "ingest", str(clip))
        assert second.returncode == 0 and "created" in second.stdout, second.stdout + second.stderr
        again = lab.kbc(root, "ingest", str(clip), base + "/post")
        assert again.stdout.count("unchanged") == 2, again.stdout
    if note.read_bytes() != original:
        raise Lost("the ingested page was overwritten by another input naming its origin")
    assert len(list((root / "raw").glob("*.md"))) == 2


@attack("ingest: same-titled notes ingested at the same moment")
def concurrent_titles(lab: Lab) -> None:
    from kbc.ingest import Ingester
    from kbc.vault import Vault

    root = lab.vault(sample=False)
    inputs = lab.tmp / "inputs"
    inputs.mkdir()
    rounds, results = 12, []
    for n in range(rounds):
        for side in ("a", "b"):
            (inputs / f"{side}{n}.md").write_text(f"# Same title {n}\n\nWritten by {side} in round {n}.\n")
    for n in range(rounds):
        barrier = threading.Barrier(2)

        def one(side: str, n=n, barrier=barrier):
            ingester = Ingester(Vault(root, env={}))
            barrier.wait()
            results.extend(ingester.ingest(str(inputs / f"{side}{n}.md")))

        threads = [threading.Thread(target=one, args=(side,)) for side in ("a", "b")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert all(r.status == "created" for r in results) and len(results) == 2 * rounds, results
    notes = [p.read_text() for p in (root / "raw").glob("*.md")]
    for n in range(rounds):
        for side in ("a", "b"):
            if not any(f"Written by {side} in round {n}." in text for text in notes):
                raise Lost(f"note {side}{n} was lost to its same-titled twin")


@attack("a typo in a raw note's front matter, or non-UTF-8: not a deletion")
def unreadable_note(lab: Lab) -> None:
    root = lab.vault()
    assert lab.kbc(root, "compile").returncode == 0
    pages = sorted(p.name for p in (root / "wiki").rglob("*.md"))
    note = root / "raw" / "Leases.md"
    note.write_text("---\ntitle: [unclosed\n---\n" + note.read_text())
    (root / "raw" / "Raft consensus.md").write_bytes((root / "raw" / "Raft consensus.md").read_bytes() + b"\xff\xfe")
    done = lab.kbc(root, "compile")
    assert "Leases" in done.stderr and "Traceback" not in done.stderr
    gone = set(pages) - {p.name for p in (root / "wiki").rglob("*.md")}
    if gone:
        raise Lost(f"pages removed for an unreadable note: {sorted(gone)[:5]}")


@attack("renaming a raw note whose concept page a person edited")
def rename_with_edit(lab: Lab) -> None:
    root = lab.vault()
    assert lab.kbc(root, "compile").returncode == 0
    before = set(_concepts(root))
    name, path = sorted(_concepts(root).items())[0]
    path.write_text(path.read_text().replace("\n# ", "\nMine.\n\n# ", 1))
    (root / "raw" / "Leases.md").rename(root / "raw" / "Leases renamed.md")
    (root / "raw" / "Paxos in brief.md").rename(root / "raw" / "Paxos, briefly.md")
    assert lab.kbc(root, "compile").returncode == 0
    if "Mine." not in path.read_text():
        raise Lost(f"the edit to {name} was orphaned")
    extra = set(_concepts(root)) - before
    assert not extra, f"second concept pages: {sorted(extra)}"
