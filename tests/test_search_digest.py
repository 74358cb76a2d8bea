"""A page rewritten with the same searchable content (a compile changed only its backlinks)
keeps its chunks: the index is what indexing every page afresh gives, for less work."""
import os

from kbc.search import Searcher, refresh_index, reindex
from kbc.vault.pages import set_backlinks, write_page
from tests.conftest import open_vault


def _chunks(vault) -> list[tuple]:
    return sorted(vault.db.execute("select rowid, title, aliases, heading, body, path from chunks").fetchall())


def _content(vault) -> list[tuple]:
    return sorted(row[1:] for row in _chunks(vault))


def test_a_page_whose_backlinks_alone_changed_keeps_its_chunks(sample_vault, server):
    vault = open_vault(sample_vault, server)
    path = vault.wiki_dir / "concepts" / "Quorum Reads.md"
    write_page(vault, path, {"title": "Quorum Reads", "aliases": ["Read Quorums"], "kind": "concept"},
               "# Quorum Reads\n\nA [[Quorum|quorum]] of replicas answers a read.\n", "concept", "v1", "m")
    other = vault.wiki_dir / "concepts" / "Leases.md"
    other.write_text("# Leases\n\nA lease expires.\n")
    refresh_index(vault)
    before = _chunks(vault)
    assert any("quorum of replicas" in row[4] for row in before)

    assert set_backlinks(vault, path, ["Leases", "Raft"])
    os.utime(other, ns=(os.stat(other).st_atime_ns, os.stat(other).st_mtime_ns + 10**9))  # touched, same text
    assert refresh_index(vault) == 0  # nothing re-indexed
    assert _chunks(vault) == before  # the same rows, not deleted and added again
    assert refresh_index(vault) == 0  # and their new stats are noted

    write_page(vault, path, {"title": "Quorum Reads", "aliases": ["Read Quorums"], "kind": "concept"},
               "# Quorum Reads\n\nA majority of replicas answers a read.\n", "concept", "v1", "m")
    assert refresh_index(vault) == 1
    hits = Searcher(vault).search("majority replicas")
    assert hits and hits[0].page == "Quorum Reads"
    kept = _content(vault)
    reindex(vault, ("wiki",))
    assert _content(vault) == kept  # what indexing every page afresh gives
