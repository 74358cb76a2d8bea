"""The wiki's link graph (which pages link to each page: wiki_links) and its pages' aliases, saved
by the compile that last refreshed the wiki, with the stamp of the pages it read them from: `kbc
serve` starting on a wiki left as it was loads them instead of reading every page (its first
page took 11 s at 1,600 sources). A stamp that differs (a page edited, added, removed) means
the saved graph is not used."""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass

from kbc.vault.files import atomic_write
from kbc.vault.wiki_links import saved_inbound

GRAPH_FILE = "link_graph.json"


def wiki_stamp(vault, pages: dict | None = None) -> tuple:
    """(path, mtime) of every page (`pages`: vault.wiki_pages(), if the caller has them): the
    link graph is rebuilt when it changes. A page that a compile replaces or removes meanwhile
    is simply left out of this look."""
    stamp = []
    for path in (pages if pages is not None else vault.wiki_pages()).values():
        try:
            stamp.append((str(path), os.stat(path).st_mtime_ns))
        except OSError:
            continue
    return tuple(sorted(stamp))


def _digest(stamp: tuple) -> str:
    return hashlib.sha256(json.dumps(stamp).encode()).hexdigest()


@dataclass
class LinkGraph:
    inbound: dict[str, list[str]]  # page link key -> the pages linking to it, sorted case-insensitively
    aliases: dict[str, str]  # alias -> page name, as vault.page_aliases() gives them


def inbound_lists(inbound: dict[str, set[str]]) -> dict[str, list[str]]:
    return {key: sorted(names, key=str.casefold) for key, names in inbound.items()}


def save_graph(vault, aliases: dict[str, str], stamp: tuple) -> None:
    """The pages' stamp (wiki_stamp) as refresh left them, with their aliases: the inbound
    links are refresh's own (wiki_links)."""
    data = {"stamp": _digest(stamp), "aliases": aliases}
    vault.state_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(vault.state_dir / GRAPH_FILE, json.dumps(data, ensure_ascii=False))


def load_graph(vault, stamp: tuple) -> LinkGraph | None:
    """The graph refresh left, if it left the pages with this stamp."""
    try:
        data = json.loads((vault.state_dir / GRAPH_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("stamp") != _digest(stamp) or "inbound" in data:
        return None  # another wiki, or a graph saved whole (before wiki_links)
    return LinkGraph(saved_inbound(vault), data["aliases"])
