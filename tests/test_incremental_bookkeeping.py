"""What refresh_wiki and scan_sources remember between runs (the page index, the notes as parsed)
gives the same wiki and the same sources as reading everything afresh: after pages added by
kbc, a page a person edited, a page deleted, a page changed within the settled window (same
size, inode and mtime), and notes added, edited and removed."""
import os
import shutil

from kbc.compile.sources import scan_sources
from kbc.vault import Vault, page_index
from kbc.vault.bookkeeping import refresh_wiki
from kbc.vault.pages import write_page


def _concept(vault: Vault, name: str, text: str, aliases=()) -> None:
    write_page(vault, vault.wiki_dir / "concepts" / f"{name}.md",
               {"title": name, "kind": "concept", "aliases": list(aliases), "tags": ["concept"]},
               f"# {name}\n\n{text}\n", "concept")


def _snapshot(vault: Vault) -> dict:
    return {p.relative_to(vault.root).as_posix(): p.read_text() for p in sorted(vault.wiki_dir.rglob("*.md"))}


def _afresh(root, copy) -> Vault:
    """A copy of the vault that remembers no page and no link: every page is read again, every
    link resolved again (which pages were linked with which terms is kept: test_link_memo)."""
    shutil.copytree(root, copy)
    vault = Vault(copy, env={})
    with vault.db.conn:
        for table in ("page_index", "source_scan", "page_words", "wiki_links", "wiki_resolver"):
            vault.db.execute(f"delete from {table}")
    return vault


def _in_place(path, old: str, new: str) -> None:
    """A person's edit that keeps the file's size, inode and mtime (one clock tick)."""
    stat = os.stat(path)
    with open(path, "r+", encoding="utf-8") as handle:
        text = handle.read()
        assert len(old) == len(new) and old in text
        handle.seek(0)
        handle.write(text.replace(old, new))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_refresh_from_the_page_index_equals_a_refresh_afresh(tmp_path):
    root = tmp_path / "vault"
    vault = Vault(root, env={})
    (root / "raw").mkdir(parents=True)
    _concept(vault, "Paxos", "Paxos needs a quorum of acceptors; Raft is simpler.")
    _concept(vault, "Raft", "Raft elects a leader, unlike Gossip.")
    _concept(vault, "Gossip", "Gossip spreads state; see [[Paxos]].")
    _concept(vault, "Doomed", "Doomed links [[Raft]] and Paxos.")
    refresh_wiki(vault)
    refresh_wiki(vault)  # the second run vouches for the pages the first wrote (by hash)

    _concept(vault, "Quorum", "A quorum is a majority; Paxos uses one.", aliases=["majority"])  # added by kbc
    gossip = vault.wiki_dir / "concepts" / "Gossip.md"
    gossip.write_text(gossip.read_text().replace("spreads state", "spreads state to [[Quorum]] members"))
    (vault.wiki_dir / "concepts" / "Doomed.md").unlink()
    _in_place(vault.wiki_dir / "concepts" / "Raft.md", "elects a leader", "elects a Leader")

    expected_vault = _afresh(root, tmp_path / "afresh")
    page_index.forget()
    expected = (sorted(refresh_wiki(expected_vault)), _snapshot(expected_vault))
    page_index.forget()
    vault = Vault(root, env={})
    assert (sorted(refresh_wiki(vault)), _snapshot(vault)) == expected
    assert "- [[Gossip]]" in (vault.wiki_dir / "concepts" / "Quorum.md").read_text()  # the person's new link
    assert "Doomed" not in _snapshot(vault)["wiki/concepts/Paxos.md"]
    assert page_index.page_record(vault, vault.wiki_dir / "concepts" / "Raft.md").state == "edited"


def test_scan_sources_from_what_it_remembers_equals_a_scan_afresh(tmp_path):
    root = tmp_path / "vault"
    vault = Vault(root, env={})
    raw = root / "raw"
    raw.mkdir(parents=True)
    (raw / "a.md").write_text("---\ntitle: Note A\nauthor: '[[Jane Doe]]'\n---\n# A\n\nBody of a.\n")
    (raw / "b.md").write_text("# Heading B\n\nBody of b.\n")
    (raw / "c.md").write_text("Body of c.\n")
    scan_sources(vault)

    (raw / "a.md").write_text("---\ntitle: Note A, renamed\n---\n# A\n\nBody of a.\n")  # edited
    (raw / "c.md").unlink()
    (raw / "d.md").write_text("---\nkind: web\nsite: example.org\n---\nBody of d.\n")  # added
    (raw / "broken.md").write_text("---\ntitle: [unclosed\n---\nBody.\n")
    _in_place(raw / "b.md", "Body of b.", "Body of B.")

    got = scan_sources(vault)
    afresh = scan_sources(_afresh(root, tmp_path / "afresh"))
    assert got == afresh
    assert [s.title for s in got[0]] == ["Note A, renamed", "Heading B", "d"]
    assert "Body of B." in got[0][1].body and got[1][0].path == "raw/broken.md"
    assert vault.db.conn.execute("select count(*) from source_scan where path = 'raw/c.md'").fetchone()[0] == 0


def _same_as_afresh(vault: Vault, tmp_path, round_: int) -> list[str]:
    """Refresh the vault from what it remembers, and a copy of it from nothing: the same."""
    expected_vault = _afresh(vault.root, tmp_path / f"afresh{round_}")
    expected = (sorted(refresh_wiki(expected_vault)), _snapshot(expected_vault))
    got = (sorted(refresh_wiki(vault)), _snapshot(vault))
    assert got == expected, round_
    return got[0]


def _foreign(vault: Vault, name: str, text: str) -> None:
    """A page a person wrote (no kbc hash): read, never written."""
    (vault.wiki_dir / f"{name}.md").write_text(f"# {name}\n\n{text}\n")


def test_terms_aliases_and_links_that_move_give_what_a_refresh_afresh_gives(tmp_path):
    vault = Vault(tmp_path / "vault", env={})
    (vault.root / "raw").mkdir(parents=True)
    _concept(vault, "Paxos", "Paxos needs a quorum of acceptors and a leader.")
    _concept(vault, "Raft", "Raft elects a leader; see [[Doomed]] and [[Gossip]].")
    _concept(vault, "Gossip", "Gossip spreads state without any coordinator.")
    _concept(vault, "Doomed", "Doomed is about Paxos.")
    _foreign(vault, "My notes", "I keep [[Future Page]] and [[Quorum Notes]] in mind, and [[Paxos]].")
    write_page(vault, vault.wiki_dir / "log.md", {"title": "Log", "kind": "log"},
               "# Log\n\n- Wrote [[Doomed]] and [[Raft]].\n", "log")
    _same_as_afresh(vault, tmp_path, 0)

    # A term added that unchanged pages hold (found through page_words), an alias another page says.
    _concept(vault, "Quorum", "A quorum is a majority of acceptors.")
    _concept(vault, "Coordinator", "The node that leads.", aliases=["leader"])
    assert {"Paxos", "Raft"} <= set(_same_as_afresh(vault, tmp_path, 1))
    assert "[[Quorum|quorum]]" in (vault.wiki_dir / "concepts" / "Paxos.md").read_text()

    # A page removed that an unchanged page links to; a page named as a person's page links (to no page till now).
    (vault.wiki_dir / "concepts" / "Doomed.md").unlink()
    _concept(vault, "Future Page", "Arrives late.")
    (vault.root / "raw" / "Quorum Notes.md").write_text("# Quorum Notes\n\nA raw note.\n")
    _same_as_afresh(vault, tmp_path, 2)
    assert "[[Doomed]]" not in (vault.wiki_dir / "concepts" / "Raft.md").read_text()
    assert "Wrote Doomed and [[Raft]]" in (vault.wiki_dir / "log.md").read_text()  # navigation mended too
    assert "- [[My notes]]" in (vault.wiki_dir / "concepts" / "Future Page.md").read_text()

    # An alias moved to another page; a term removed; a page renamed in case only.
    _concept(vault, "Coordinator", "The node that leads.")
    _concept(vault, "Raft", "Raft elects a leader; see [[Gossip]].", aliases=["leader"])
    (vault.wiki_dir / "concepts" / "Quorum.md").unlink()
    gossip = vault.wiki_dir / "concepts" / "Gossip.md"
    gossip.rename(gossip.with_name("gossip.md"))
    _same_as_afresh(vault, tmp_path, 3)
    _same_as_afresh(vault, tmp_path, 4)  # and a run with nothing changed changes nothing
