"""The graph kept between runs (compile/graph_store.py) is the graph a fresh build gives, edge
for edge, after sources are added, concepts merged, a source removed and decisions changed;
and its Related lists, read from the store for the concepts it did not build again, are too."""
import random

from kbc.compile.graph import build_graph
from kbc.compile.graph_store import GraphStore
from kbc.compile.material import Material
from kbc.compile.rows import Concept, Evidence
from kbc.vault import Vault


class World:
    """Concepts, their evidence by source page, decisions and mentions, changed step by step."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.concepts: dict[str, Concept] = {}
        self.evidence: dict[str, list[Evidence]] = {}
        self.decided: list[tuple[str, str, str]] = []
        self.mentions: dict[str, list[str]] = {}
        self.pages = 0
        for _ in range(6):
            self.add_source()

    def add_concept(self) -> str:
        key = f"c{len(self.concepts):03d}x{self.rng.randrange(1000)}"
        self.concepts[key] = Concept(key, key.title(), [], f"{key} things", "other", key.title())
        self.evidence[key] = []
        return key

    def add_source(self) -> None:
        page, self.pages = f"Note {self.pages} (source)", self.pages + 1
        old = list(self.concepts)
        new = [self.add_concept() for _ in range(self.rng.randrange(2, 7))]
        mentioned = self.rng.sample(old, min(len(old), self.rng.randrange(0, 5)))
        for key in new + mentioned:
            for _ in range(self.rng.randrange(1, 3)):
                first = self.rng.randrange(1, 60)
                lines = str(first) if self.rng.random() < 0.7 else f"{first}-{first + self.rng.randrange(1, 12)}"
                kind = "mention" if key in mentioned else "claim"
                self.evidence[key].append(Evidence(page, f"{key} on {page}", lines, kind))
        if self.rng.random() < 0.5:
            self.add_concept()  # nothing links it: the orphan fallback does
        everyone = list(self.concepts)
        for key in new:
            self.mentions[key] = sorted(self.rng.sample(everyone, min(len(everyone), self.rng.randrange(0, 3))))
            if old:
                relation = self.rng.choice(["part_of", "related", "different", "related"])
                self.decided.append((key, self.rng.choice(old), relation))

    def merge(self, keep: str, gone: str) -> None:
        self.evidence[keep] += self.evidence.pop(gone)
        del self.concepts[gone]
        self.mentions[keep] = sorted(set(self.mentions.get(keep, []) + self.mentions.pop(gone, [])) - {keep})
        self.mentions = {k: [keep if o == gone else o for o in v] for k, v in self.mentions.items()}
        self.decided = [(keep if a == gone else a, keep if b == gone else b, r) for a, b, r in self.decided]

    def remove_source(self, page: str) -> None:
        for key in self.evidence:
            self.evidence[key] = [e for e in self.evidence[key] if e.source_page != page]

    def similar(self, key: str, apart: set[str]):
        others = [k for k in sorted(self.concepts) if k != key and k not in apart]
        return others[len(key) % len(others)] if others else None


def edges(graph, keys) -> dict:
    return {k: sorted((e.other, e.why, e.weight, e.keeps) for e in graph.edges_of(k)) for k in keys}


def test_the_kept_graph_is_the_fresh_graph_after_adds_a_merge_and_a_removed_source(vault_dir):
    vault = Vault(vault_dir, env={})
    store = GraphStore(vault.db, vault.db_lock)
    world = World(7)
    steps = [lambda: None, world.add_source, world.add_source,
             lambda: world.merge(*sorted(world.concepts)[3:5]),
             lambda: world.remove_source("Note 2 (source)"),
             lambda: world.decided.append((sorted(world.concepts)[0], sorted(world.concepts)[-1], "different")),
             lambda: world.decided.pop(0), world.add_source, lambda: None]
    for number, step in enumerate(steps):
        step()
        fresh = build_graph(world.concepts, world.evidence, world.decided, world.similar, world.mentions)
        kept = store.graph(world.concepts, Material.of(world.evidence), world.decided, world.similar, world.mentions)
        assert edges(kept.graph, world.concepts) == edges(fresh, world.concepts), number
        now = {k: [(e.other, e.why) for e in fresh.related(k)] for k in world.concepts}
        assert {k: kept.listed(k) for k in world.concepts} == now, number
        assert {k: [(e.other, e.why) for e in kept.graph.related(k)] for k in world.concepts} == now
    assert not kept.built - {k for k in world.concepts if any(e.keeps for e in fresh.edges_of(k))}
    assert any(e.why == "same source" for k in world.concepts for e in fresh.edges_of(k))
    assert any(e.keeps for k in world.concepts for e in fresh.edges_of(k))


def test_many_random_histories_keep_the_fresh_graph(vault_dir):
    for seed in range(12):
        vault = Vault(vault_dir / str(seed), env={})
        store, world = GraphStore(vault.db, vault.db_lock), World(seed)
        for _ in range(5):
            choice = world.rng.random()
            if choice < 0.5:
                world.add_source()
            elif choice < 0.75:
                world.merge(*world.rng.sample(sorted(world.concepts), 2))
            else:
                world.remove_source(f"Note {world.rng.randrange(world.pages)} (source)")
            fresh = build_graph(world.concepts, world.evidence, world.decided, world.similar, world.mentions)
            kept = store.graph(world.concepts, Material.of(world.evidence), world.decided, world.similar, world.mentions)
            related = {k: [(e.other, e.why) for e in fresh.related(k)] for k in world.concepts}
            assert {k: kept.listed(k) for k in world.concepts} == related, seed
            assert edges(kept.graph, world.concepts) == edges(fresh, world.concepts), seed


def test_rows_of_another_graph_code_are_built_again(vault_dir):
    vault = Vault(vault_dir, env={})
    store, world = GraphStore(vault.db, vault.db_lock), World(3)
    store.graph(world.concepts, Material.of(world.evidence), world.decided, world.similar, world.mentions)
    with vault.db.conn:  # as an older kbc stored them, one of them about a concept since merged away
        vault.db.execute("update graph_nodes set node = '{\"c\": \"old\"}'")
        vault.db.execute("insert into graph_pages (page, keys) values ('Gone (source)', '{\"gone\": [1]}')")
    world.merge(*sorted(world.concepts)[:2])
    world.add_source()
    fresh = build_graph(world.concepts, world.evidence, world.decided, world.similar, world.mentions)
    kept = store.graph(world.concepts, Material.of(world.evidence), world.decided, world.similar, world.mentions)
    assert edges(kept.graph, world.concepts) == edges(fresh, world.concepts)
    assert not list(vault.db.query("select page from graph_pages where page = 'Gone (source)'"))
