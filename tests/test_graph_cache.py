"""The concepts each material names, kept between runs in the vault's database, equal a fresh
search after concepts are added, renamed and removed and materials change."""
from kbc.compile.graph import mention_lists
from kbc.compile.graph_cache import MentionGraphCache
from kbc.compile.material import Material
from kbc.compile.rows import Concept, Evidence
from kbc.vault import Vault


def concept(name: str, *also: str, qualified=()) -> Concept:
    return Concept(name.casefold(), name, list(also), "", "other", name, link_names=[name, *also],
                   qualified=list(qualified))


def material(*lines: str) -> list[Evidence]:
    return [Evidence("Note (source)", line, "1") for line in lines]


def test_mentions_kept_between_runs_equal_a_fresh_search(vault_dir):
    vault = Vault(vault_dir, env={})
    cache = MentionGraphCache(vault.db, vault.db_lock)
    concepts = {c.key: c for c in [concept("Paxos"), concept("Raft"), concept("Leader Election"),
                                   concept("Leader", qualified=[("Leader", ["Raft"])])]}
    evidence = {"paxos": material("Paxos needs acceptors; Raft is simpler."),
                "raft": material("Raft elects a leader by leader election.", "Each term has one leader."),
                "leader election": material("Choosing a leader; Paxos does it per ballot."),
                "leader": material("In Raft the leader sends heartbeats to every quorum member.")}
    first = cache.mention_lists(concepts, Material.of(evidence))
    assert first == mention_lists(concepts, evidence) and first["paxos"] == ["raft"]
    assert cache.mention_lists(concepts, Material.of(evidence)) == first  # from the database this time

    # A concept the unchanged materials name ("quorum", "heartbeats"), one renamed (aliases),
    # one gone, one material changed.
    concepts["quorum"] = concept("Quorum")
    concepts["heartbeat"] = concept("Heartbeat")
    concepts["raft"] = concept("Raft", "Raft Consensus")
    del concepts["leader election"], evidence["leader election"]
    evidence["quorum"] = material("A quorum is a majority; Raft Consensus and Paxos both use one.")
    evidence["heartbeat"] = material("A message the leader sends.")
    evidence["paxos"] = material("Paxos needs a quorum of acceptors.")
    again = cache.mention_lists(concepts, Material.of(evidence))
    assert again == mention_lists(concepts, evidence)
    assert "quorum" in again["leader"] and "heartbeat" in again["leader"] and "raft" in again["quorum"]


def test_names_key_the_same_whatever_sequences_hold_them_and_words_are_namings():
    """The caches key a concept's names by naming_key: names held in tuples or lists (a stored
    identity or a fresh one) are the same names; naming_words is what a Naming looks for."""
    from kbc.compile.evidence import Naming, naming_key, naming_words
    as_lists = concept("Leader", "Raft Leader", qualified=[("Leader", ["Raft"])])
    as_tuples = concept("Leader", "Raft Leader", qualified=[("Leader", ("Raft",))])
    as_tuples.link_names = tuple(as_tuples.link_names)
    assert naming_key(as_lists) == naming_key(as_tuples)
    assert naming_key(as_lists) != naming_key(concept("Leader", qualified=[("Leader", ["Paxos"])]))
    assert naming_words(as_lists) == Naming(as_lists).words == {"leader"}


def test_a_new_name_reads_only_the_materials_holding_its_words(vault_dir):
    """Materials come by digest and are parsed when read: a new concept is looked for only in
    the unchanged materials whose words (material_words) it may be named by."""
    vault = Vault(vault_dir, env={})
    cache = MentionGraphCache(vault.db, vault.db_lock)
    concepts = {c.key: c for c in [concept("Paxos"), concept("Raft"), concept("Leader")]}
    evidence = {"paxos": material("Paxos needs acceptors; Raft is simpler."),
                "raft": material("Raft elects a leader.", "Each term has one leader."),
                "leader": material("In Raft the leader sends heartbeats to every quorum member.")}
    cache.mention_lists(concepts, Material.of(evidence))
    concepts["quorum"] = concept("Quorum")
    evidence["quorum"] = material("A majority of the acceptors.")
    digests, read = Material.of(evidence), []
    lazy = Material()
    for key, items in evidence.items():
        lazy.put(key, digests.digest(key), make=lambda key=key, items=items: read.append(key) or items)
    found = cache.mention_lists(concepts, lazy)
    assert found == mention_lists(concepts, evidence) and found["leader"] == ["raft", "quorum"]
    assert sorted(read) == ["leader", "quorum"]  # the new concept's own material, and the one holding "quorum"
