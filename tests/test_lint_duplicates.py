"""Lint's near-duplicate concepts, scored in one C loop over every pair of labels."""
from pathlib import Path

from rapidfuzz import fuzz

from kbc.compile.consolidate import NEAR_DUPLICATE
from kbc.lint import _duplicates, near_pairs


def test_near_identical_names_and_aliases_are_flagged_once_and_decided_pairs_are_not():
    concepts = {"Consistent hashing": [], "consistent hashng": [], "Paxos": ["Synod protocol"],
                "Synod Protocols": [], "Raft": [], "Hashing consistent": [], "Leases": []}
    pages = {name.casefold(): Path(f"wiki/concepts/{name}.md") for name in concepts}
    props = {name.casefold(): {"kind": "concept", "aliases": aliases} for name, aliases in concepts.items()}
    props["summary"] = {"kind": "source-summary"}
    asked = []
    found = [(p.page, p.detail) for p in _duplicates(pages, props, lambda keys: asked.append(keys) or set())]
    assert found == [("Consistent hashing", "same concept as [[consistent hashng]]?"),
                     ("Consistent hashing", "same concept as [[Hashing consistent]]?"),
                     ("consistent hashng", "same concept as [[Hashing consistent]]?"),
                     ("Paxos", "same concept as [[Synod Protocols]]?")]
    # only the pages found near-identical are asked about
    assert asked == [{"consistent hashing", "consistent hashng", "hashing consistent", "paxos", "synod protocols"}]
    decided = {frozenset(("paxos", "synod protocols"))}
    assert ("Paxos", "same concept as [[Synod Protocols]]?") not in [
        (p.page, p.detail) for p in _duplicates(pages, props, lambda keys: decided)]


def test_near_pairs_are_what_a_sweep_of_all_pairs_finds():
    words = ["paxos", "raft", "lease", "quorum", "chubby", "zookeeper", "consensus", "replica", "log", "vector clock"]
    labels = [""] + [f"{a} {b}"[:n] for a in words for b in words for n in (3, 7, 12, 30)]
    labels += [label[:-1] + "x" for label in labels[::7] if label]  # one edit away
    want = {(i, j) for i, a in enumerate(labels) for j, b in enumerate(labels)
            if i <= j and fuzz.ratio(a, b) >= NEAR_DUPLICATE}
    assert {(min(i, j), max(i, j)) for i, j in near_pairs(labels)} == want
