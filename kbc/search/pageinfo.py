"""What retrieval needs to know about a wiki page, read from its structure (front matter kind,
aliases and sources; wikilinks; the cited line ranges of its sources list), not its wording."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from kbc.vault import Vault
from kbc.vault.bookkeeping import is_navigation
from kbc.vault.frontmatter import split
from kbc.vault.links import find_links, link_key
from kbc.vault.pages import own_body

# Pages made from the wiki rather than from sources: never evidence, at most "see also".
DERIVED_KINDS = frozenset({"answer", "slides", "chart", "report", "output", "proposal"})
NAVIGATION_KINDS = frozenset({"index", "log", "health"})

# "[[Leases (source)]]: lines 3-4, 9" (compile's sources list) or "[[Leases (source)]] lines 3"
_CITED_LINES = re.compile(r"\[\[(?P<target>[^\[\]|#]+)(?:[#|][^\[\]]*)?\]\]\s*[:,(]?\s*lines?\s+"
                          r"(?P<ranges>\d+(?:\s*[-–]\s*\d+)?(?:\s*,\s*\d+(?:\s*[-–]\s*\d+)?)*)", re.I)
_HEADING_LINE = re.compile(r"^#{1,6}\s")


@dataclass
class PageInfo:
    name: str
    rel: str  # path relative to the vault
    kind: str
    title: str
    aliases: list[str]
    description: str
    body: str  # without front matter and the managed backlinks section
    links: list[str] = field(default_factory=list)  # link keys of pages the body links, in order
    sources: list[str] = field(default_factory=list)  # link keys of the sources it cites
    cited: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # source key -> line ranges
    note: str = ""  # a source summary's raw note (link target)

    @property
    def evidence(self) -> bool:
        return self.kind not in DERIVED_KINDS and self.kind not in NAVIGATION_KINDS \
            and not is_navigation(self.name)


def parse_page(name: str, rel: str, text: str) -> PageInfo:
    try:
        props, body = split(text)
    except Exception:
        props, body = {}, text
    body = own_body(body)
    kind = str(props.get("kind") or _kind_from_folder(rel))
    aliases = [str(a) for a in props.get("aliases") or [] if isinstance(a, str) and a.strip()]
    links = [link_key(link.target) for link in find_links(body) if not link.embed and link.target]
    sources = [link_key(link.target) for value in _as_list(props.get("sources"))
               for link in find_links(str(value))]
    cited: dict[str, list[tuple[int, int]]] = {}
    for match in _CITED_LINES.finditer(body):
        ranges = cited.setdefault(link_key(match["target"]), [])
        for part in match["ranges"].split(","):
            low, _, high = part.replace("–", "-").partition("-")
            pair = (int(low), int(high or low))
            if pair not in ranges and 0 < pair[0] <= pair[1]:
                ranges.append(pair)
    note_links = find_links(str(props.get("source") or ""))
    return PageInfo(name=name, rel=rel, kind=kind, title=str(props.get("title") or name), aliases=aliases,
                    description=str(props.get("description") or ""), body=body,
                    links=list(dict.fromkeys(links)), sources=list(dict.fromkeys(sources)), cited=cited,
                    note=note_links[0].target if note_links else "")


def _as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _kind_from_folder(rel: str) -> str:
    folder = rel.split("/")[1] if rel.count("/") >= 2 else ""
    return {"concepts": "concept", "sources": "source-summary", "answers": "answer",
            "outputs": "output", "proposals": "proposal", "indexes": "index"}.get(folder, "page")


class PageCache:
    """Parsed pages by link key, re-read only when a file's size or mtime changes (a long-lived
    server keeps one; a command builds one per run)."""

    def __init__(self, vault: Vault):
        self.vault = vault
        self._parsed: dict[str, tuple[tuple[int, int], PageInfo]] = {}
        self._paths: dict[str, Path] = {}
        self._notes: dict[str, Path] | None = None
        self._lines: dict[Path, tuple[tuple[int, int], tuple[str, list[str]]]] = {}

    def refresh(self) -> None:
        self._paths = self.vault.wiki_pages()
        self._notes = None

    def keys(self) -> list[str]:
        return sorted(self._paths)

    def get(self, key: str) -> PageInfo | None:
        path = self._paths.get(key)
        if path is None:
            return None
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            return None
        stamp = (stat.st_mtime_ns, stat.st_size)
        known = self._parsed.get(key)
        if known and known[0] == stamp:
            return known[1]
        info = parse_page(path.stem, self.vault.rel(path), path.read_text(encoding="utf-8", errors="replace"))
        self._parsed[key] = (stamp, info)
        return info

    def note_lines(self, target: str) -> tuple[str, list[str]] | None:
        """A raw note's body lines, numbered as compile numbers them (line 1 follows the front matter)."""
        if self._notes is None:
            self._notes = {}
            if self.vault.raw_dir.is_dir():
                for path in sorted(self.vault.raw_dir.rglob("*.md")):
                    self._notes.setdefault(link_key(path.stem), path)
        path = self._notes.get(link_key(target))
        if path is None:
            return None
        try:
            stat = os.stat(path)
            stamp = (stat.st_mtime_ns, stat.st_size)
            known = self._lines.get(path)
            if known and known[0] == stamp:
                return known[1]
            _, body = split(path.read_text(encoding="utf-8", errors="replace"))
        except Exception:
            return None
        self._lines[path] = (stamp, (self.vault.rel(path), body.split("\n")))
        return self._lines[path][1]


def whole_blocks(text: str) -> list[str]:
    """The page as paragraphs (blank-line separated), each heading joined to what follows it so
    no block is a bare heading."""
    blocks, pending = [], ""
    for block in (b.strip() for b in text.split("\n\n")):
        if not block:
            continue
        if _HEADING_LINE.match(block) and "\n" not in block:
            pending = (pending + "\n\n" if pending else "") + block
            continue
        blocks.append((pending + "\n\n" if pending else "") + block)
        pending = ""
    return blocks
