"""A large index is cut into parts where its own lines say, so adding a page rewrites the
part that lists it, not every part after it; and no two parts share a name."""
from kbc.vault import Vault
from kbc.vault.indexes import IndexEntry, estimate_tokens, write_indexes
from kbc.vault.links import find_links


def _entries(count: int, start: int = 0) -> list[IndexEntry]:
    # Names alike for long runs ("Note 1000 …"), as a folder of dated notes gives them.
    return [IndexEntry("sources", f"Note {n:05d} about leases", f"What note {n} says about leases and locks.")
            for n in range(start, start + count)]


def _parts(vault: Vault) -> dict[str, str]:
    return {p.stem: p.read_text() for p in (vault.wiki_dir / "indexes").glob("Index of sources *.md")}


def test_one_page_added_rewrites_one_part_and_every_page_stays_listed(vault_dir):
    vault = Vault(vault_dir, env={})
    entries = _entries(3000)
    write_indexes(vault, entries, 2000)
    before = _parts(vault)
    assert len(before) > 20
    assert all(estimate_tokens(text) <= 2000 + 80 for text in before.values())
    _, removed = write_indexes(vault, entries + [
        IndexEntry("sources", "Note 01500 about leases, again", "A second note.")], 2000)
    after = _parts(vault)
    changed = {name for name in after if before.get(name) != after[name]} | set(before) - set(after)
    assert len(changed) <= 2, changed
    top = (vault.wiki_dir / "indexes" / "Index of sources.md").read_text()
    listed = [link.target for link in find_links(top)]
    assert sorted(listed) == sorted(after) and len(set(listed)) == len(listed)  # no two parts share a name
    reached = {link.target for name in listed for link in find_links(after[name])} - {"Index of sources"}
    assert reached == {e.name for e in entries} | {"Note 01500 about leases, again"}
    assert removed <= {vault.wiki_dir / "indexes" / f"{name}.md" for name in before}
