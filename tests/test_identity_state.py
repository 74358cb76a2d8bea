"""The identity carried on between runs (kbc/compile/identity_state.py) is the one a whole
rebuild gives: after sources added, re-extracted, removed and put back, merges, renames, a
kbc-merges.toml override and a rewritten decision, each run in a new process (a new Manifest
and Tracker reading the stored file) and twice within one run. The rows a Manifest keeps in
step with its writes are those the database holds."""
import random
from collections import Counter

from kbc.compile.blocking import Blocks
from kbc.compile.consolidate import Neighbourhood, candidate_pairs, profile
from kbc.compile.identity import Overrides, build
from kbc.compile.identity_state import STATE_FILE, Tracker
from kbc.compile.manifest import Manifest
from kbc.compile.rows import DIFFERENT, RELATED, RENAME, SAME, Claim, Decision, Member, SourceRow
from kbc.vault import Vault, init_vault

NAMES = ["Paxos", "Raft", "Leader", "Quorum", "Log Replication", "Consensus", "Ballot Number", "Term",
         "Leader Election", "State Machine", "Snapshot", "Lease", "Paxos Algorithm", "Multi-Paxos"]


def _source(manifest: Manifest, path: str, rng: random.Random, names: list[str]) -> None:
    members, claims = [], []
    for name in names:
        member = Member(f"{path}::{name.lower()}", path, name, rng.sample(NAMES, rng.randint(0, 2)),
                        f"{name} as {path} says ({rng.randint(0, 3)}).", rng.choice(["algorithm", "concept"]))
        members.append(member)
        claims += [Claim(path, member.id, "claim", f"{name} claim {n} of {path}.", str(n))
                   for n in range(rng.randint(0, 3))]
    manifest.put_source(SourceRow(path, path, path, f"wiki/sources/{path}.md", "{}", "v", "m", "now"),
                        members, claims)


def _decide(manifest: Manifest, rng: random.Random, count: int) -> None:
    ids = [m.id for m in manifest.members()]
    out = []
    for _ in range(count):
        a, b = rng.sample(ids, 2)
        relation = rng.choice([SAME, SAME, SAME, DIFFERENT, RELATED, RENAME])
        if relation == RENAME:
            out.append(Decision(a, "", RENAME, rng.choice(NAMES) + " (renamed)"))
        else:
            out.append(Decision(a, b, relation, rng.choice(["", "", rng.choice(NAMES)]) if relation == SAME else ""))
    manifest.add_decisions(out)


def _fields(identity) -> tuple:
    concepts = [(k, vars(c)) for k, c in identity.concepts.items()]  # in order: the order is part of it
    return concepts, identity.member_key, identity.merged, identity.renamed_from


def _sync(vault: Vault, tracker: Tracker, manifest: Manifest, overrides: Overrides, settled: set[str]):
    """What Consolidator.sync does with an identity: compared with the whole rebuild first."""
    old, members = manifest.concepts(), manifest.members()
    carried = tracker.identity(members, overrides, old, settled)
    weight = Counter(claim.member for claim in manifest.claims())
    rebuilt = build(members, manifest.decisions(), overrides, old, dict(weight), settled)
    assert _fields(carried) == _fields(rebuilt)
    by_id, titles = {m.id: m for m in members}, {p: p.upper() for p in manifest.sources()}
    near, again = Neighbourhood(), Neighbourhood()  # the profiles kept with the concepts are those made anew
    assert candidate_pairs(carried.concepts, by_id, set(), titles, near, carried.memo) == \
        candidate_pairs(rebuilt.concepts, by_id, set(), titles, again)
    assert near.scores == again.scores and near.profiles.keys() == again.profiles.keys()
    for concept in carried.concepts.values():
        concept.page = concept.page or concept.key.title()
    for key in old:
        if key not in carried.concepts:
            manifest.drop_concept(key)
    manifest.put_concepts(list(carried.concepts.values()), old)
    before = {m.id: m.concept_key for m in members}
    manifest.assign({m: k for m, k in carried.member_key.items() if before.get(m) != k})
    tracker.save()
    return carried


def _run(vault: Vault, rng: random.Random, change, overrides: Overrides = Overrides()):
    """One compile run: a new Manifest and Tracker, a change, then two syncs with decisions between."""
    manifest = Manifest(vault)
    tracker = Tracker(vault, manifest)
    settled = set(manifest.concepts())
    manifest.members(), manifest.claims(), manifest.sources()  # read before, as the catalogue is
    change(manifest)
    _sync(vault, tracker, manifest, overrides, settled)
    _decide(manifest, rng, 6)
    identity = _sync(vault, tracker, manifest, overrides, settled)
    manifest.mark_considered([m.id for m in manifest.members()])
    fresh = Manifest(vault)  # what the run kept in step with its writes is what the database holds
    for read in ("members", "claims", "sources", "concepts", "decisions", "relating"):
        assert getattr(manifest, read)() == getattr(fresh, read)(), read
    return identity, tracker


def test_carried_identity_is_the_rebuilt_one(tmp_path):
    init_vault(tmp_path)
    vault = Vault(tmp_path)
    rng = random.Random(7)

    named: dict[str, list[str]] = {}  # a note put back names what it named

    def add(*paths, again=False):
        def change(manifest):
            for path in paths:
                if again or path not in named:
                    named[path] = rng.sample(NAMES, rng.randint(2, 5))
                _source(manifest, path, rng, named[path])
        return change

    _run(vault, rng, add(*(f"note{n}" for n in range(12))))
    assert (vault.state_dir / STATE_FILE).exists()
    for n in range(12, 16):  # a +1 each run
        identity, tracker = _run(vault, rng, add(f"note{n}"))
    assert tracker.state is not None and len(identity.concepts) < len(Manifest(vault).members())
    _run(vault, rng, add("note3", again=True))  # extracted again: other names, definitions and claims
    for path in ("note5", "note1", "note9"):
        _run(vault, rng, lambda m: m.remove_source(path))  # what held clusters together may go
        _run(vault, rng, add(path))  # put back: its old decisions count again
    _run(vault, rng, lambda m: [m.remove_source("note7"), m.remove_source("note8")])
    overrides = Overrides(same=[["Raft", "Paxos"]], different=[["Leader", "Quorum"]])
    _run(vault, rng, add("note20"), overrides)  # kbc-merges.toml: the whole rebuild
    _run(vault, rng, add("note21"))  # and without it again
    _run(vault, rng, lambda m: m.rename_source("note2", "moved/note2"))  # decisions rewritten
    identity, _ = _run(vault, rng, add("note22"))
    assert any(len(c.members) > 1 for c in identity.concepts.values())
    # The few names of a +1 are swept, not indexed: the blocks are the same.
    members = {m.id: m for m in Manifest(vault).members()}
    profiles = {k: profile(c, members) for k, c in identity.concepts.items()}
    frequency = Counter(t for p in profiles.values() for t in p.tokens | p.definition)
    indexed, swept = Blocks(profiles, frequency), Blocks(profiles, frequency, asked=1)
    assert all(indexed.of(k) == swept.of(k) for k in profiles)


def test_a_file_no_token_vouches_for_is_not_read(tmp_path):
    """The identity file kept from another copy of the database (or a run stopped between the
    file and the token) is rebuilt, not trusted."""
    init_vault(tmp_path)
    vault = Vault(tmp_path)
    rng = random.Random(3)
    _run(vault, rng, lambda m: [_source(m, f"n{i}", rng, rng.sample(NAMES, 4)) for i in range(6)])
    stale = (vault.state_dir / STATE_FILE).read_bytes()
    _run(vault, rng, lambda m: _source(m, "n9", rng, rng.sample(NAMES, 4)))
    (vault.state_dir / STATE_FILE).write_bytes(stale)
    manifest = Manifest(vault)
    assert Tracker(vault, manifest)._load() is None
    _run(vault, rng, lambda m: _source(m, "n10", rng, rng.sample(NAMES, 4)))  # and the result is right


def test_an_identity_file_makes_no_other_object(tmp_path):
    """A file in .kbc/ made to run code when read is refused, and the identity rebuilt."""
    import os
    import pickle

    init_vault(tmp_path)
    vault = Vault(tmp_path)
    rng = random.Random(5)
    _run(vault, rng, lambda m: [_source(m, f"n{i}", rng, rng.sample(NAMES, 3)) for i in range(4)])
    marker = tmp_path / "ran"

    class Planted:
        def __reduce__(self):
            return os.mkdir, (str(marker),)

    (vault.state_dir / STATE_FILE).write_bytes(pickle.dumps(Planted()))
    assert Tracker(vault, Manifest(vault))._load() is None and not marker.exists()
    _run(vault, rng, lambda m: _source(m, "n9", rng, rng.sample(NAMES, 3)))
