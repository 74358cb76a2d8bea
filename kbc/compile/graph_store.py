"""The concept graph kept between runs: each concept's edges (before orphans are linked) with
what they were built from, so a run builds again only the edges of the concepts whose inputs
changed. The graph it gives is the one graph.build_graph gives from the same inputs.

A concept's node is all its own edges depend on: its lines by source page, whom it mentions
and who mentions it, its decided relations and the concepts kept apart from it (the repr of a
tuple, led by the graph code's digest). Its edges depend on its node and on the other concepts' lines on
its pages: they are built again when its node changed or a concept's lines on one of its pages
did (stored by page). Orphans are linked every run from the stored Related lists."""
from __future__ import annotations

import json
from ast import literal_eval
from dataclasses import dataclass
from functools import lru_cache

from kbc.compile import graph as graph_code
from kbc.compile.graph import Edge, Graph, link_orphans, nearness
from kbc.compile.material import Material
from kbc.compile.rows import Concept
from kbc.vault.files import code_digest
from kbc.vault.lines import cited_lines

CODE = code_digest(graph_code)
_CHUNK = 500  # keys per `in (...)` query


@dataclass
class StoredGraph:
    graph: Graph
    built: set[str]  # the keys whose related() the graph works out (built again, or orphans linked)
    tops: dict[str, list]  # the others' (other, why) before orphans were linked, as stored

    def listed(self, key: str) -> list[tuple[str, str]]:
        """(other, why) of graph.related(key), without loading an unchanged key's edges."""
        if key in self.built or key not in self.tops:
            return [(e.other, e.why) for e in self.graph.related(key)]
        return [tuple(entry) for entry in self.tops[key]]


class GraphStore:
    def __init__(self, db, lock):
        self.db, self.lock = db, lock

    def graph(self, concepts: dict[str, Concept], evidence: Material,
              decided: list[tuple[str, str, str]], similar, mentions: dict[str, list[str]]) -> StoredGraph:
        """As build_graph(concepts, evidence, decided, similar, mentions)."""
        linked = {frozenset((a, b)) for a, b, relation in decided if relation != "different"}
        apart = {frozenset((a, b)) for a, b, relation in decided if relation == "different"} - linked
        nodes = _Nodes(concepts, evidence, decided, mentions, apart)
        with self.lock:
            stored = {r[0]: (r[1], r[2], r[3])
                      for r in self.db.execute("select key, node, top, basis from graph_nodes")}
        # Rows of another graph code (or stored another way) are all built again, pages too.
        anew = any(not row[0].startswith(f"({CODE!r},") for row in stored.values())
        if anew:
            stored = {}
        # A node whose inputs are as stored is as stored; one whose inputs changed is built to see.
        moved = {k for k in concepts if stored.get(k, (None, None, None))[2] != nodes.basis(k)}
        changed = {k for k in moved if stored.get(k, (None,))[0] != nodes.node(k)[0]}
        gone = [k for k in stored if k not in concepts]
        old = {k: dict(literal_eval(stored[k][0])[1]) for k in changed | set(gone) if k in stored}
        # A page where some concept's lines changed: every concept on it has other edges.
        pages = {}
        for key in changed | set(gone):
            before, now = old.get(key, {}), dict(nodes.node(key)[1][1]) if key in concepts else {}
            for page in before.keys() | now.keys():
                if before.get(page) != now.get(page):
                    pages.setdefault(page, {})[key] = now.get(page)
        groups = {} if anew else self._groups(pages)
        for page, keys in pages.items():
            group = groups.setdefault(page, {})
            for key, lines in keys.items():
                if lines is None:
                    group.pop(key, None)
                else:
                    group[key] = lines
        rebuild = (changed | {k for page in pages for k in groups[page]}) & concepts.keys()
        # their other pages' groups, as stored (unchanged)
        if not anew:
            groups.update(self._groups({p for k in rebuild for p, _ in nodes.node(k)[1][1] if p not in groups}))
        built = {key: _edges(key, _parts(nodes.node(key)[1]), groups, apart) for key in rebuild}
        rows = [(k, nodes.node(k)[0], json.dumps([[e.other, e.why, e.weight] for e in built[k]]), nodes.basis(k))
                for k in rebuild]
        graph = Graph(apart=apart, load=self._edges)
        graph.edges.update({k: v for k, v in built.items() if v})
        graph._to.update({k: {e.other: e for e in v} for k, v in built.items()})
        tops = {k: [[e.other, e.why] for e in graph.related(k)] for k in rebuild}
        kept = {k: json.loads(row[1]) for k, row in stored.items() if k in concepts and k not in tops}
        inbound = {o for top in (*kept.values(), *tops.values()) for o, _ in top}
        everyone = {**kept, **tops}
        linked = link_orphans(graph, concepts, inbound, similar,
                              lambda key: everyone[key][0][0] if everyone.get(key) else None)
        with self.lock, self.db.conn:
            if anew:
                self.db.execute("delete from graph_nodes")
                self.db.execute("delete from graph_pages")
            self.db.conn.executemany("insert or replace into graph_nodes (key, node, edges, basis, top) "
                                     "values (?, ?, ?, ?, ?)", [(*row, json.dumps(tops[row[0]])) for row in rows])
            # inputs changed, node the same: its edges stand, and the next run need not build it
            self.db.conn.executemany("update graph_nodes set basis = ? where key = ?",
                                     [(nodes.basis(k), k) for k in moved - rebuild if k in stored])
            self.db.conn.executemany("delete from graph_nodes where key = ?", [(k,) for k in gone])
            self.db.conn.executemany("insert or replace into graph_pages (page, keys) values (?, ?)",
                                     [(p, json.dumps(groups[p])) for p in pages if groups.get(p)])
            self.db.conn.executemany("delete from graph_pages where page = ?",
                                     [(p,) for p in pages if not groups.get(p)])
        return StoredGraph(graph, rebuild | linked, everyone)

    def _groups(self, pages) -> dict[str, dict[str, list[int]]]:
        out = {}
        pages = list(pages)
        with self.lock:
            for i in range(0, len(pages), _CHUNK):
                part = pages[i:i + _CHUNK]
                for page, keys in self.db.execute(f"select page, keys from graph_pages where page in "
                                                  f"({','.join('?' * len(part))})", part):
                    out[page] = json.loads(keys)
        return out

    def _edges(self, key: str) -> list[Edge]:
        with self.lock:
            row = self.db.execute("select edges from graph_nodes where key = ?", [key]).fetchone()
        return [Edge(*e) for e in json.loads(row[0])] if row else []


class _Nodes:
    """Each concept's node (code, (page, lines) pairs, mentions, reverse mentions, decided,
    apart), as stored and as a tuple, built when first asked for; basis(key): its inputs with
    the evidence by its digest, so an unchanged concept's evidence is never read."""

    def __init__(self, concepts, evidence: Material, decided, mentions, apart):
        self.evidence, self.mentions = evidence, mentions
        self.decided_of: dict[str, list] = {}
        for a, b, relation in decided:
            if a in concepts and b in concepts and relation != "different":
                there, back = (("part of", 5), ("has part", 4)) if relation == "part_of" else (("related", 4),) * 2
                self.decided_of.setdefault(a, []).append((b, *there))
                self.decided_of.setdefault(b, []).append((a, *back))
        self.apart_of: dict[str, list] = {}
        for pair in apart:
            a, b = tuple(pair) if len(pair) == 2 else (*pair, *pair)
            self.apart_of.setdefault(a, []).append(b)
            self.apart_of.setdefault(b, []).append(a)
        self.by: dict[str, list[str]] = {}
        for key in evidence:
            for other in mentions.get(key, ()):
                self.by.setdefault(other, []).append(key)
        self._built: dict[str, tuple[str, tuple]] = {}

    def _others(self, key: str) -> tuple:
        return (tuple(sorted(self.mentions.get(key, ()))) if key in self.evidence else (), _sorted(self.by.get(key)),
                _sorted(self.decided_of.get(key)), _sorted(set(self.apart_of[key])) if key in self.apart_of else ())

    def basis(self, key: str) -> str:
        return repr((CODE, self.evidence.digest(key) if key in self.evidence else "", *self._others(key)))

    def node(self, key: str) -> tuple[str, tuple]:
        if key not in self._built:
            lines: dict[str, set[int]] = {}
            for e in self.evidence.get(key, ()):
                found = lines.get(e.source_page)
                if found is None:
                    found = lines[e.source_page] = set()
                found.update(_cited(e.lines))
            # a tuple of strings and numbers: its repr is what is stored and compared (cheaper than JSON)
            node = (CODE, tuple((page, tuple(sorted(found))) for page, found in sorted(lines.items())),
                    *self._others(key))
            self._built[key] = (repr(node), node)
        return self._built[key]


def _parts(node: tuple) -> dict:
    """A node by part, for building its edges: c(ode), p(ages' lines), m(entions), r(everse
    mentions), d(ecided), x (apart)."""
    return dict(zip("cpmrdx", node), p=dict(node[1]))


def _sorted(items) -> tuple:
    return tuple(sorted(items)) if items else ()


@lru_cache(maxsize=1 << 16)
def _cited(lines: str) -> tuple[int, ...]:
    return tuple(cited_lines(lines))  # a few thousand distinct citations over 100,000 items


def _edges(key: str, node: dict, groups: dict[str, dict[str, list[int]]], apart: set) -> list[Edge]:
    """The key's edges before orphans are linked, as build_graph adds them: integer weights
    first (decided, mentions), then shared sources in page order."""
    graph = Graph()
    kept = set(node["x"])
    graph._apart_of[key] = kept
    for other, why, weight in node["d"]:
        graph.add(key, other, why, weight)
    for other in node["m"]:
        graph.add(key, other, "mentions", 3)
    for other in node["r"]:
        graph.add(key, other, "mentioned by", 2)
    for page, mine in node["p"].items():
        mine = set(mine)
        for other, lines in groups[page].items():
            if other != key and other not in kept:
                graph.add(key, other, "same source", 1 + nearness(mine, lines))
    return graph.edges.get(key, [])
