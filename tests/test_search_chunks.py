"""The search index holds what kbc/search/chunks.py makes of each page: an index made by other
chunking code is made again, not kept for the pages unchanged since."""
from kbc.search import Searcher, refresh_index, reindex
from kbc.search.chunks import CODE
from kbc.vault.pages import write_page
from tests.conftest import open_vault


def _write(vault, name: str, body: str) -> None:
    write_page(vault, vault.wiki_dir / "concepts" / f"{name}.md", {"title": name, "kind": "concept"},
               body, "concept", "v1", "m")


def _wiki_chunks(vault) -> list[tuple]:
    return sorted(vault.db.execute("select title, heading, body, path from chunks where scope = 'wiki'").fetchall())


def test_an_index_made_by_other_chunking_code_is_made_again(sample_vault, server):
    vault = open_vault(sample_vault, server)
    _write(vault, "Quorum", "# Quorum\n\nA majority of replicas answers a read.\n")
    refresh_index(vault)
    fresh = _wiki_chunks(vault)
    # What older code left: other chunk text, for pages whose files have not changed since.
    vault.db.execute("update chunks set body = 'left by older code'")
    vault.db.execute("update search_code set code = 'older'")
    vault.db.conn.commit()
    assert refresh_index(vault) == len({row[3] for row in fresh})  # every page indexed again
    assert _wiki_chunks(vault) == fresh
    assert vault.db.execute("select code from search_code where scope = 'wiki'").fetchone()[0] == CODE
    assert refresh_index(vault) == 0  # and then kept
    reindex(vault)
    assert _wiki_chunks(vault) == fresh
    hits = Searcher(vault).search("majority replicas")
    assert hits and hits[0].page == "Quorum" and "older" not in hits[0].snippet
