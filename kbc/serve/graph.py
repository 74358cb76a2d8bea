"""The wiki's concept graph for kbc serve: pages as nodes, [[links]] as edges, by category.

/api/graph gives the graph as JSON; /graph is a page that draws it (static/graph.js lays it
out with a force simulation into SVG, offline, no library) and also lists every page by
category as plain links, so the graph is browsable without script too.
"""
from __future__ import annotations

import html
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import quote

from kbc.vault.bookkeeping import is_navigation
from kbc.vault.frontmatter import FrontMatterError, split
from kbc.vault.links import link_key

UNCATEGORISED = "uncategorised"


@dataclass
class Node:
    name: str  # the page's file stem: what [[links]] and /page/ name
    title: str
    kind: str  # concept, source-summary, answer, ...
    category: str
    degree: int = 0


@dataclass
class Edge:
    source: str
    target: str


def build_graph(pages: dict[str, Path], inbound: dict[str, list[str]]) -> dict:
    """Nodes for the wiki's pages (navigation pages left out), edges from `inbound`
    (page key -> names of the pages linking to it)."""
    nodes: dict[str, Node] = {}
    for key, path in pages.items():
        if is_navigation(path.stem):
            continue
        try:
            props, _ = split(path.read_text(encoding="utf-8"))
        except (FrontMatterError, UnicodeDecodeError, OSError):
            props = {}
        kind = str(props.get("kind") or "page")
        category = str(props.get("category") or ("sources" if kind == "source-summary" else kind) or UNCATEGORISED)
        nodes[key] = Node(path.stem, str(props.get("title") or path.stem), kind, category.strip().lower())
    edges = []
    for target_key, sources in inbound.items():
        for source in sources:
            source_key = link_key(source)
            if target_key in nodes and source_key in nodes and source_key != target_key:
                edges.append(Edge(nodes[source_key].name, nodes[target_key].name))
                nodes[source_key].degree += 1
                nodes[target_key].degree += 1
    ordered = sorted(nodes.values(), key=lambda n: (n.category, n.name.casefold()))
    categories: dict[str, int] = {}
    for node in ordered:
        categories[node.category] = categories.get(node.category, 0) + 1
    return {"nodes": [asdict(n) for n in ordered],
            "edges": [asdict(e) for e in sorted(edges, key=lambda e: (e.source, e.target))],
            "categories": [{"name": name, "pages": count} for name, count in sorted(categories.items())]}


def graph_page(graph: dict) -> str:
    """The /graph page's content: a category chooser, the drawing, and the pages by category."""
    options = "".join(f'<option value="{html.escape(c["name"])}">{html.escape(c["name"])} ({c["pages"]})</option>'
                      for c in graph["categories"])
    sections = []
    for category in graph["categories"]:
        links = "".join(f'<li><a href="/page/{quote(n["name"])}">{html.escape(n["title"])}</a></li>'
                        for n in graph["nodes"] if n["category"] == category["name"])
        sections.append(f'<section class="graph-list" data-category="{html.escape(category["name"])}">'
                        f'<h3>{html.escape(category["name"])}</h3><ul>{links}</ul></section>')
    return (
        f'<h1>Graph</h1><p><label>Category <select id="graph-category">'
        f'<option value="">all ({len(graph["nodes"])})</option>{options}</select></label> '
        f'<span id="graph-count" class="tokens">{len(graph["nodes"])} pages, {len(graph["edges"])} links</span></p>'
        '<svg id="graph" width="100%" height="640" viewBox="0 0 900 640" role="img" '
        'aria-label="The wiki\'s pages and their links"></svg>'
        '<p class="tokens">Each circle is a page (size: its links); click one to open it.</p>'
        f'<h2>Pages by category</h2>{"".join(sections)}'
        '<script src="/static/graph.js" defer></script>')
