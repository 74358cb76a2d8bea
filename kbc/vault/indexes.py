"""Index pages written by code, each kept under a token limit by splitting alphabetically."""
from __future__ import annotations

import json
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

from kbc.vault import Vault, text
from kbc.vault.files import atomic_write, code_digest, page_name
from kbc.vault.pages import read_page, registered_pages, remove_page, write_page
from kbc.vault.text import clip

HOME = "index"
SECTIONS = {  # section -> (index page name, what it lists)
    "sources": ("Index of sources", "One summary page per source note in raw/."),
    "concepts": ("Index of concepts", "One article per concept, merged across sources."),
    "answers": ("Index of answers", "Answers filed back by `kbc ask --save`."),
    "outputs": ("Index of outputs", "Slides, charts and reports made from the wiki."),
}


@dataclass(frozen=True)
class IndexEntry:
    section: str
    name: str
    blurb: str = ""
    group: str = ""  # the category a large index is split by

    def line(self) -> str:
        blurb = " ".join(self.blurb.split())
        return f"- [[{self.name}]]" + (f": {clip(blurb, 160)}" if blurb else "")


def estimate_tokens(text: str) -> int:
    return (len(text) + 3) // 4


_LINE_TOKENS = 50  # a listed page's line, about: name and a clipped blurb
_SPAN = 24  # characters of a name at most, naming a part


def _name(line: str) -> str:
    return line.split("[[", 1)[1].split("]]", 1)[0]


def _parts(lines: list[str], max_tokens: int) -> list[list[str]]:
    """The sorted lines cut into parts under max_tokens, where the lines themselves say (like a
    content-defined chunker): after a line whose page name hashes to 0 modulo a stride, once a
    part holds a quarter of the budget; or where a part is full. A page added or removed changes
    the part that lists it, and seldom the next: cut by size alone, every boundary after it
    shifted and most parts of a large index were rewritten (57 of 94 at 10,000 sources)."""
    stride, least = max(2, max_tokens // (4 * _LINE_TOKENS)), max_tokens // 4
    parts, current, size = [], [], 0
    for line in lines:
        cost = estimate_tokens(line) + 1
        if current and size + cost > max_tokens:
            parts.append(current)
            current, size = [], 0
        current.append(line)
        size += cost
        if size >= least and zlib.crc32(_name(line).casefold().encode("utf-8")) % stride == 0:
            parts.append(current)
            current, size = [], 0
    return parts + ([current] if current else [])


def _prefix(name: str, neighbour: str | None) -> str:
    """The shortest start of `name` (up to _SPAN characters) that the neighbouring part's
    nearest name does not share, case aside, and that ends in no space."""
    size = 1
    while size < min(len(name), _SPAN) and neighbour is not None and (
            name[:size].casefold() == neighbour[:size].casefold() or name[size - 1].isspace()):
        size += 1
    return name[:size].rstrip()


def _part_names(name: str, parts: list[list[str]]) -> list[str]:
    """'Index of sources Ca–Ce': each part by the starts of its first and last names, which
    tell it from its neighbours; two parts in a run of names alike past _SPAN are numbered."""
    firsts, lasts = [_name(p[0]) for p in parts], [_name(p[-1]) for p in parts]
    names, taken = [], set()
    for k in range(len(parts)):
        first = _prefix(firsts[k], lasts[k - 1] if k else None)
        last = _prefix(lasts[k], firsts[k + 1] if k + 1 < len(parts) else None)
        part = f"{name} " + page_name(first if first.casefold() == last.casefold() else f"{first}–{last}", "other")
        numbered, n = part, 1
        while numbered.casefold() in taken:
            n += 1
            numbered = f"{part} ({n})"
        taken.add(numbered.casefold())
        names.append(numbered)
    return names


def _listing(vault: Vault, name: str, about: str, lines: list[str], budget: int,
             wanted: set[Path], parent: str = "") -> None:
    """One index page listing `lines`; over the budget it lists alphabetical parts instead."""
    index_dir = vault.wiki_dir / "indexes"
    up = f"Part of [[{parent}]].\n\n" if parent else ""
    parts = _parts(lines, budget) if lines else [[]]
    if len(parts) == 1:
        listed = "\n".join(parts[0]) or "Nothing yet."
    else:
        links = []
        for part, part_name in zip(parts, _part_names(name, parts)):
            path = index_dir / f"{part_name}.md"
            write_page(vault, path, {"title": part_name, "kind": "index", "tags": ["index"]},
                       f"# {part_name}\n\nPart of [[{name}]].\n\n" + "\n".join(part) + "\n", kind="index")
            wanted.add(path)
            links.append(f"- [[{part_name}]] ({len(part)} pages)")
        listed = "\n".join(links)
    path = index_dir / f"{name}.md"
    write_page(vault, path, {"title": name, "kind": "index", "tags": ["index"]},
               f"# {name}\n\n{up}{about}\n\n{listed}\n", kind="index")
    wanted.add(path)


def write_indexes(vault: Vault, entries: list[IndexEntry], max_tokens: int) -> tuple[set[Path], set[Path]]:
    """The home index and one index per section. A section over max_tokens becomes a
    hierarchy: one page per category, and a category still too big, alphabetical parts.
    So every index page fits in any model's context, however large the wiki grows.
    Returns (the index pages there are now, those it removed)."""
    wanted: set[Path] = set()
    home_lines = []
    budget = max_tokens - 200  # room for the heading and description
    lines_of = _Lines(vault)
    for section, (title, about) in SECTIONS.items():
        chosen = [(e, lines_of.line(e)) for e in entries if e.section == section]
        if not chosen and section in ("answers", "outputs"):
            continue
        lines = sorted((line for _, line in chosen), key=str.casefold)
        groups: dict[str, list[str]] = {}
        for entry, line in chosen:
            groups.setdefault(entry.group or "other", []).append(line)
        if sum(estimate_tokens(line) + 1 for line in lines) <= budget or len(groups) < 2:
            _listing(vault, title, about, lines, budget, wanted)
        else:
            links = []
            for group in sorted(groups, key=str.casefold):
                group_name = f"{title} ({page_name(group)})"
                _listing(vault, group_name, f"{about} Category: {group}.",
                         sorted(groups[group], key=str.casefold), budget, wanted, parent=title)
                links.append(f"- [[{group_name}]] ({len(groups[group])} pages)")
            _listing(vault, title, about, links, budget, wanted)
        home_lines.append(f"- [[{title}]]: {len(lines)} pages. {about}")
    home_body = ("# Index\n\nThis wiki is compiled by kbc from the notes in `raw/`. "
                 "Start from a section:\n\n" + "\n".join(home_lines) + "\n\nSee also [[log]].\n")
    home = vault.wiki_dir / f"{HOME}.md"
    write_page(vault, home, {"title": "Index", "kind": "index", "tags": ["index"]}, home_body, kind="index")
    wanted.add(home)
    removed = {vault.root / rel for rel in registered_pages(vault, "index")} - wanted
    for path in removed:
        remove_page(vault, path)
    lines_of.save()
    return wanted, removed


_CODE = code_digest(sys.modules[__name__], text)


class _Lines:
    """Each entry's line as the last run rendered it, by page name and blurb (.kbc/index_lines.json,
    for this code): clipping 22,000 blurbs to whole sentences was a third of writing the indexes."""
    FILE = "index_lines.json"

    def __init__(self, vault: Vault):
        self.path = vault.state_dir / self.FILE
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        self.known = data.get("lines", {}) if isinstance(data, dict) and data.get("code") == _CODE else {}
        self.used: dict[str, list[str]] = {}

    def line(self, entry: IndexEntry) -> str:
        seen = self.known.get(entry.name)
        if not (isinstance(seen, list) and len(seen) == 2 and seen[0] == entry.blurb):
            seen = [entry.blurb, entry.line()]
        self.used[entry.name] = seen
        return seen[1]

    def save(self) -> None:
        if self.used != self.known:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(self.path, json.dumps({"code": _CODE, "lines": self.used}, ensure_ascii=False))


def index_entry_for(path: Path, props: dict | None = None) -> IndexEntry | None:
    """What an index lists for a page, from its front matter (kind and a one-line blurb);
    `props` when the caller has read the page already."""
    if props is None:
        try:
            props, _ = read_page(path)
        except Exception:
            return None
    return index_entry(path.stem, props)


def index_entry(name: str, props: dict) -> IndexEntry | None:
    """What an index lists for the page `name` with these properties (page_index.LIGHT holds
    all it reads)."""
    section = {"concept": "concepts", "source-summary": "sources", "answer": "answers",
               "slides": "outputs", "chart": "outputs", "report": "outputs"}.get(props.get("kind"))
    if not section:
        return None
    blurb = props.get("description") or props.get("question") or ""
    return IndexEntry(section, name, str(blurb), str(props.get("category") or ""))
