"""The link graph between concepts (one home): consolidation's part-of and related decisions,
co-mentions and shared sources. It feeds the write prompt and each page's `## Related`."""
from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Callable

from kbc.compile.evidence import Naming, text_words
from kbc.compile.rows import Concept, Evidence
from kbc.vault.lines import cited_lines

MAX_RELATED = 8
MAX_SAME_SOURCE = 3  # entries that only share a source: every concept of a long source shares it
SAME_PASSAGE = 0.45  # ...unless their cited lines lie within 3 lines of each other (see nearness)
KEEPS_LINKED = "nearest"  # the edge that gives a concept nothing else links its one incoming link
_RANK = {"part of": 5, "has part": 4, "related": 3, "mentions": 2, "mentioned by": 1}


@dataclass
class Edge:
    other: str  # concept key
    why: str  # "part of", "has part", "related", "mentions", "mentioned by", "same source"
    weight: float
    keeps: bool = False  # the one incoming link of a concept nothing else links: never cut


@dataclass
class Graph:
    edges: dict[str, list[Edge]] = field(default_factory=dict)
    apart: set[frozenset] = field(default_factory=set)  # pairs consolidation judged different
    # a -> b -> the edge in edges[a]: a scan of a's edges per add was quadratic in a's degree
    _to: dict[str, dict[str, Edge]] = field(default_factory=dict, repr=False, compare=False)
    # a -> the keys kept apart from it: no frozenset built per add (hundreds of thousands a run)
    _apart_of: dict[str, set[str]] = field(default_factory=dict, repr=False, compare=False)
    # key -> limit -> related(key, limit), until an edge of key changes: asked for every concept
    # by the orphan check, then again by each Related section
    _ranked: dict[str, dict[int, list[Edge]]] = field(default_factory=dict, repr=False, compare=False)
    # key -> its edges as stored (graph_store): a graph kept between runs loads a concept's
    # edges when first asked for, not all of them
    load: Callable[[str], list[Edge]] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        for pair in self.apart:
            a, b = tuple(pair) if len(pair) == 2 else (*pair, *pair)
            self._apart_of.setdefault(a, set()).add(b)
            self._apart_of.setdefault(b, set()).add(a)

    def add(self, a: str, b: str, why: str, weight: float) -> None:
        """Evidence adds up: two shared sources and a co-mention outweigh one shared source."""
        if a == b or b in self._apart_of.get(a, ()):
            return
        self._ranked.pop(a, None)
        mine = self._out(a)
        edge = mine.get(b)
        if edge is not None:
            if _RANK.get(why, 0) > _RANK.get(edge.why, 0):
                edge.why = why
            edge.weight += weight
            edge.keeps |= why == KEEPS_LINKED
            return
        mine[b] = Edge(b, why, weight, why == KEEPS_LINKED)
        self.edges.setdefault(a, []).append(mine[b])

    def _out(self, a: str) -> dict[str, Edge]:
        mine = self._to.get(a)
        if mine is None:
            loaded = self.load(a) if self.load else []
            mine = self._to[a] = {e.other: e for e in loaded}
            if loaded:
                self.edges[a] = loaded
        return mine

    def edges_of(self, key: str) -> list[Edge]:
        self._out(key)
        return self.edges.get(key, [])

    def apart_from(self, key: str) -> set[str]:
        """The keys of the pairs that hold `key` and are kept apart (`key` too), or none."""
        return {key} | self._apart_of[key] if key in self._apart_of else set()

    def related(self, key: str, limit: int = MAX_RELATED) -> list[Edge]:
        """The strongest edges, and always those that keep a concept from being an orphan."""
        kept = self._ranked.setdefault(key, {})
        if limit not in kept:
            kept[limit] = self._related(key, limit)
        return list(kept[limit])

    def _related(self, key: str, limit: int) -> list[Edge]:
        ranked = sorted(self.edges_of(key), key=lambda e: (-e.weight, e.other))
        shared = {id(e) for e in [e for e in ranked if e.why == "same source"
                                  and e.weight < 1 + SAME_PASSAGE][MAX_SAME_SOURCE:]}
        ranked = [e for e in ranked if e.keeps or id(e) not in shared]
        return ranked[:limit] + [e for e in ranked[limit:] if e.keeps]


def material_text(items: list[Evidence]) -> str:
    return " ".join(e.text for e in items)


def mention_lists(concepts: dict[str, Concept], evidence: dict[str, list[Evidence]]) -> dict[str, list[str]]:
    """Each concept -> the other concepts its material names, in concept order."""
    namings = {k: Naming(c) for k, c in concepts.items()}
    # Each text is searched only for the concepts one of its words may name, in concept order.
    order = {k: n for n, k in enumerate(namings)}
    by_word: dict[str, list[str]] = {}
    for key, naming in namings.items():
        for word in naming.words:
            by_word.setdefault(word, []).append(key)
    return {key: names_in(material_text(items), key, namings, by_word, order) for key, items in evidence.items()}


def names_in(text: str, key: str, namings: dict, by_word: dict[str, list[str]], order: dict[str, int],
             words: set[str] | None = None) -> list[str]:
    """`words`: text_words(text), if the caller has them."""
    words = text_words(text) if words is None else words
    named = {other for word in words & by_word.keys() for other in by_word[word]}
    found = []
    for other in sorted(named, key=order.__getitem__):
        naming = namings[other]
        pattern = naming.finder(text) if other != key and naming.may_occur(words) else None
        if pattern is not None and pattern.search(text):
            found.append(other)
    return found


def build_graph(concepts: dict[str, Concept], evidence: dict[str, list[Evidence]],
                decided: list[tuple[str, str, str]], similar, mentions: dict[str, list[str]] | None = None) -> Graph:
    """`decided`: (a, b, "part_of" | "related" | "different") with a part of b; `similar(a, apart)`:
    the concept nearest to a by names and definitions (none of `apart`), for a concept nothing
    else connects. A pair also decided related or part of is not kept apart. `mentions`:
    mention_lists of the concepts and evidence (kept between runs by graph_cache)."""
    linked = {frozenset((a, b)) for a, b, relation in decided if relation != "different"}
    graph = Graph(apart={frozenset((a, b)) for a, b, relation in decided if relation == "different"} - linked)
    for a, b, relation in decided:
        if a in concepts and b in concepts and relation != "different":
            if relation == "part_of":
                graph.add(a, b, "part of", 5)
                graph.add(b, a, "has part", 4)
            else:
                graph.add(a, b, "related", 4)
                graph.add(b, a, "related", 4)
    if mentions is None:
        mentions = mention_lists(concepts, evidence)
    for key in evidence:
        for other in mentions.get(key, ()):
            graph.add(key, other, "mentions", 3)
            graph.add(other, key, "mentioned by", 2)
    by_source: dict[str, dict[str, list[int]]] = {}
    for key, items in evidence.items():
        for e in items:
            by_source.setdefault(e.source_page, {}).setdefault(key, []).extend(cited_lines(e.lines))
    for page in sorted(by_source):  # in page order: a weight is the same sum when kept (graph_store)
        _add_same_source(graph, by_source[page])
    link_orphans(graph, concepts, {e.other for k in graph.edges for e in graph.related(k)}, similar)
    return graph


def link_orphans(graph: Graph, concepts: dict[str, Concept], inbound: set[str], similar,
                 strongest=None) -> set[str]:
    """No concept without a link from another concept page: its strongest neighbour, or the
    nearest concept by name and definition, links it. `inbound`: the keys some concept's
    Related lists before this; `strongest(key)`: the first of them, if known without its edges
    (an orphan's edges are as they were before this). The keys whose edges this changed."""
    touched = set()
    for key in sorted(concepts):
        if key not in inbound and len(concepts) > 1:
            own = strongest(key) if strongest else next((e.other for e in graph.related(key, 1)), None)
            other = own or similar(key, graph.apart_from(key))
            if other:
                # add() merges with an edge an earlier concept's fallback made: never two lines
                graph.add(other, key, KEEPS_LINKED, 0)
                graph.add(key, other, KEEPS_LINKED, 0)
                inbound |= {key, other}
                touched |= {key, other}
    return touched


def _add_same_source(graph: Graph, keys: dict[str, list[int]]) -> None:
    """graph.add(a, b, "same source", 1 + nearness(...)) for each pair of keys that share a
    source, inlined: "same source" ranks below every other reason, so an edge only gains
    weight (a long source has dozens of concepts: hundreds of thousands of pairs a run)."""
    ordered = {k: sorted(set(lines)) for k, lines in keys.items()}
    for a, lines_a in keys.items():
        graph._ranked.pop(a, None)
        mine, apart, edges = graph._to.setdefault(a, {}), graph._apart_of.get(a, ()), None
        lines_a = set(lines_a)
        for b, ordered_b in ordered.items():
            if a == b or b in apart:
                continue
            weight = 1 + nearness(lines_a, ordered_b)
            edge = mine.get(b)
            if edge is not None:
                edge.weight += weight
                continue
            mine[b] = Edge(b, "same source", weight)
            if edges is None:
                edges = graph.edges.setdefault(a, [])
            edges.append(mine[b])


def nearness(a: set[int], ordered_b: list[int]) -> float:
    """Under 1: how close two concepts' cited lines lie in one source (one passage discusses
    both); `ordered_b`: the other's lines, sorted, each once."""
    if not a or not ordered_b:
        return 0.0
    if len(a) * len(ordered_b) <= 64:  # most concepts cite a line or two of a source: no search
        gap = min(abs(x - y) for x in a for y in ordered_b)
    else:
        gap = min(_gap(ordered_b, x) for x in a)
    return 0.9 / (1 + gap / 3)


def _gap(ordered: list[int], x: int) -> int:
    """The least |x - y| over the sorted, non-empty `ordered`."""
    at = bisect_left(ordered, x)
    return min(abs(x - ordered[i]) for i in (at - 1, at) if 0 <= i < len(ordered))


def related_section(graph: Graph, key: str, concepts: dict[str, Concept]) -> str:
    return section_of([(e.other, e.why) for e in graph.related(key)], concepts)


_ROLES = {"part of": " (this is a part of it)", "has part": " (a part of this)"}


def section_of(listed: list[tuple[str, str]], concepts: dict[str, Concept]) -> str:
    """The `## Related` section of the (other, why) a concept's related() gives."""
    lines = [f"- [[{concepts[other].page}]]{_ROLES.get(why, '')}" for other, why in listed]
    return "## Related\n\n" + "\n".join(lines) + "\n" if lines else ""


_RELATED = re.compile(r"\n## Related\n.*?(?=\n## |\Z)", re.S)


def with_related(body: str, section: str) -> str:
    """The body with its `## Related` section replaced (placed before `## Sources`)."""
    body = _RELATED.sub("", body)
    if not section:
        return body
    if "\n## Sources\n" in body:
        return body.replace("\n## Sources\n", "\n" + section + "\n## Sources\n", 1)
    return body.rstrip("\n") + "\n\n" + section
