"""Index pages written by code, each kept under a token limit by splitting alphabetically."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kbc.vault import Vault
from kbc.vault.pages import read_page, registered_pages, remove_page, write_page

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

    def line(self) -> str:
        blurb = " ".join(self.blurb.split())
        return f"- [[{self.name}]]" + (f": {blurb[:160]}" if blurb else "")


def estimate_tokens(text: str) -> int:
    return (len(text) + 3) // 4


def _parts(lines: list[str], max_tokens: int) -> list[list[str]]:
    parts, current, size = [], [], 0
    for line in lines:
        cost = estimate_tokens(line) + 1
        if current and size + cost > max_tokens:
            parts.append(current)
            current, size = [], 0
        current.append(line)
        size += cost
    return parts + ([current] if current else [])


def _initial(line: str) -> str:
    name = line.split("[[", 1)[1]
    return name[:1].upper() if name[:1].isalnum() else "#"


def write_indexes(vault: Vault, entries: list[IndexEntry], max_tokens: int) -> list[str]:
    """Write the home index and one index per section; a section over max_tokens becomes a
    list of alphabetical parts. Returns the names of every index page written."""
    index_dir = vault.wiki_dir / "indexes"
    written: list[str] = []
    wanted: set[Path] = set()
    home_lines = []
    budget = max_tokens - 200  # room for the heading and description
    for section, (title, about) in SECTIONS.items():
        lines = sorted((e.line() for e in entries if e.section == section), key=str.casefold)
        if not lines and section in ("answers", "outputs"):
            continue
        parts = _parts(lines, budget) if lines else [[]]
        if len(parts) == 1:
            body = f"# {title}\n\n{about}\n\n" + ("\n".join(parts[0]) or "Nothing yet.") + "\n"
        else:
            part_links = []
            for part in parts:
                first, last = _initial(part[0]), _initial(part[-1])
                span = first if first == last else f"{first}–{last}"
                part_name = f"{title} {span}"
                path = index_dir / f"{part_name}.md"
                part_body = f"# {title}: {span}\n\nPart of [[{title}]].\n\n" + "\n".join(part) + "\n"
                write_page(vault, path, {"title": part_name, "kind": "index", "tags": ["index"]},
                           part_body, kind="index")
                wanted.add(path)
                written.append(part_name)
                part_links.append(f"- [[{part_name}]] ({len(part)} pages)")
            body = f"# {title}\n\n{about}\n\n" + "\n".join(part_links) + "\n"
        path = index_dir / f"{title}.md"
        write_page(vault, path, {"title": title, "kind": "index", "tags": ["index"]}, body, kind="index")
        wanted.add(path)
        written.append(title)
        home_lines.append(f"- [[{title}]]: {len(lines)} pages. {about}")
    home_body = ("# Index\n\nThis wiki is compiled by kbc from the notes in `raw/`. "
                 "Start from a section:\n\n" + "\n".join(home_lines) + "\n\nSee also [[log]].\n")
    home = vault.wiki_dir / f"{HOME}.md"
    write_page(vault, home, {"title": "Index", "kind": "index", "tags": ["index"]}, home_body, kind="index")
    wanted.add(home)
    written.append(HOME)
    for rel in registered_pages(vault, "index"):
        path = vault.root / rel
        if path not in wanted:
            remove_page(vault, path)
    return written


def index_entry_for(path: Path) -> IndexEntry | None:
    """What an index lists for a page, from its front matter (kind and a one-line blurb)."""
    try:
        props, body = read_page(path)
    except Exception:
        return None
    section = {"concept": "concepts", "source-summary": "sources", "answer": "answers",
               "slides": "outputs", "chart": "outputs", "report": "outputs"}.get(props.get("kind"))
    if not section:
        return None
    blurb = props.get("description") or props.get("question") or ""
    return IndexEntry(section, path.stem, str(blurb))
