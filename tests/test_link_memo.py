"""refresh_wiki links again only pages whose body changed or that hold a term added, removed or
repointed since the last run, and that gives the same wiki as linking every page afresh."""
from kbc.vault import Vault
from kbc.vault.bookkeeping import refresh_wiki
from kbc.vault.pages import write_page


def concept(vault: Vault, name: str, text: str, aliases=()) -> None:
    write_page(vault, vault.wiki_dir / "concepts" / f"{name}.md",
               {"title": name, "kind": "concept", "aliases": list(aliases), "tags": ["concept"]},
               f"# {name}\n\n{text}\n", "concept")


def snapshot(vault: Vault) -> dict:
    return {p.relative_to(vault.root).as_posix(): p.read_text() for p in vault.wiki_dir.rglob("*.md")}


def test_pages_are_linked_again_only_where_a_term_changed_and_as_if_afresh(vault_dir):
    vault = Vault(vault_dir, env={})
    concept(vault, "Paxos", "Paxos needs a quorum of acceptors; Raft is simpler.")
    concept(vault, "Raft", "Raft elects a leader; it was meant to be easier than Paxos.")
    concept(vault, "Gossip", "Gossip spreads state between nodes without a leader.")
    refresh_wiki(vault)
    assert "[[Raft]]" in (vault.wiki_dir / "concepts" / "Paxos.md").read_text()
    assert not {"Paxos", "Raft", "Gossip"} & set(refresh_wiki(vault))  # nothing changed: nothing linked

    # New pages whose names the old pages hold: "quorum" in Paxos, "leader" (an alias) in Raft and Gossip.
    concept(vault, "Quorum", "A quorum is a majority of the nodes.")
    concept(vault, "Coordinator", "The one node that leads.", aliases=["leader"])
    linked = refresh_wiki(vault)
    assert {"Paxos", "Raft", "Gossip"} <= set(linked)
    assert "[[Quorum|quorum]]" in (vault.wiki_dir / "concepts" / "Paxos.md").read_text()
    incremental = snapshot(vault)

    with vault.db.conn:  # forget what was linked: every page is linked afresh
        vault.db.execute("delete from linked_pages")
        vault.db.execute("delete from link_terms")
    assert not {"Paxos", "Raft", "Gossip"} & set(refresh_wiki(vault)) and snapshot(vault) == incremental

    # A page removed: the links to it go, as a fresh run would leave them.
    (vault.wiki_dir / "concepts" / "Quorum.md").unlink()
    refresh_wiki(vault)
    assert "[[Quorum" not in (vault.wiki_dir / "concepts" / "Paxos.md").read_text()
