"""Materials kept between runs (compile/mention_cache.py) equal a search from scratch, evidence
and digest, as sources are added, edited and removed; a concept no changed source names is
given by its stored row and its evidence is not parsed until read."""
from pathlib import Path

from kbc.compile.mention_cache import MentionCache
from kbc.compile.rows import Claim, Concept
from kbc.compile.sources import Source
from kbc.vault import Vault, init_vault
from kbc.vault.files import sha256_text


def source(name: str, body: str) -> Source:
    return Source(f"raw/{name}.md", name.title(), body, sha256_text(body))


def concept(name: str) -> Concept:
    key = name.casefold()
    return Concept(key, name, [], "", "other", name, members=[f"m::{key}"], link_names=[name])


def claim(name: str, path: str, text: str) -> Claim:
    return Claim(path, f"m::{name.casefold()}", "claim", text, "3")


def materials(vault: Vault, concepts, claims, sources):
    pages = {s.path: f"{s.title} (source)" for s in sources}
    return MentionCache(vault.db, vault.db_lock).material(concepts, claims, pages, sources)


def test_kept_materials_equal_a_fresh_search_and_stay_unread_where_nothing_names_them(tmp_path: Path):
    init_vault(tmp_path / "kept")
    kept = Vault(tmp_path / "kept", env={})
    concepts = {c.key: c for c in [concept("Paxos"), concept("Raft"), concept("Gossip")]}
    claims = {"m::paxos": [claim("Paxos", "raw/paxos.md", "Paxos agrees on one value.")],
              "m::raft": [claim("Raft", "raw/raft.md", "Raft elects a leader.")],
              "m::gossip": [claim("Gossip", "raw/gossip.md", "Gossip spreads state.")]}
    sources = [source("paxos", "# Paxos\n\nPaxos agrees on one value.\n\nRaft is easier to follow than Paxos.\n"),
               source("raft", "# Raft\n\nRaft elects a leader.\n\nRaft was designed against Paxos.\n"),
               source("gossip", "# Gossip\n\nGossip spreads state.\n")]
    steps = [lambda: None,
             lambda: sources.append(source("quorum", "# Quorum\n\nPaxos and Gossip rounds need a quorum.\n")),
             lambda: sources.__setitem__(2, source("gossip", "# Gossip\n\nGossip spreads state, unlike Paxos.\n")),
             lambda: sources.pop(1)]
    for number, step in enumerate(steps):
        step()
        found = materials(kept, concepts, claims, sources)
        init_vault(tmp_path / f"fresh{number}")
        fresh = materials(Vault(tmp_path / f"fresh{number}", env={}), concepts, claims, sources)
        if number == 1:  # a new source names Paxos and Gossip, not Raft: Raft's row stands, unread
            assert not found.made("raft") and found.made("paxos")
        assert {k: found[k] for k in found} == {k: fresh[k] for k in fresh}
        assert {k: found.digest(k) for k in found} == {k: fresh.digest(k) for k in fresh}
    assert any(e.kind == "mention" and e.source_page == "Quorum (source)" for e in found["paxos"])
    assert not any(e.source_page == "Raft (source)" for e in found["paxos"])  # the removed source's lines are gone
