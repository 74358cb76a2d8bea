"""The search index's counted words stay in step with its chunks through edits, removals and a
reindex: exactly what counting every chunk again gives, so typo correction reads the same."""
from collections import Counter

from kbc.search import Searcher, refresh_index, reindex
from kbc.search.vocabulary import chunk_words, word_counts
from tests.conftest import open_vault


def _recount(vault, scope="wiki") -> Counter:
    counts = Counter()
    for row in vault.db.execute("select title, aliases, heading, body from chunks where scope = ?", [scope]):
        counts.update(chunk_words(*row))
    return counts


def test_counted_words_follow_the_chunks(sample_vault, server):
    vault = open_vault(sample_vault, server)
    pages = vault.wiki_dir / "concepts"
    pages.mkdir(parents=True, exist_ok=True)
    (pages / "Quorum Reads.md").write_text("---\ntitle: Quorum Reads\n---\n# Quorum Reads\n\nA quorum of replicas answers.\n")
    (pages / "Leases.md").write_text("# Leases\n\nA lease expires; leases bound clocks.\n")
    refresh_index(vault)
    assert word_counts(vault.db, "wiki") == _recount(vault) and word_counts(vault.db, "wiki")["quorum"] >= 3
    (pages / "Leases.md").write_text("# Leases\n\nA lease is renewed by its holder.\n")
    (pages / "Quorum Reads.md").unlink()
    refresh_index(vault)
    counts = word_counts(vault.db, "wiki")
    assert counts == _recount(vault) and "quorum" not in counts and counts["renewed"] == 1
    reindex(vault, ("wiki",))
    assert word_counts(vault.db, "wiki") == _recount(vault)
    assert Searcher(vault)._terms("leese renewd") == ["lease", "renewed"]  # corrected from the counts
