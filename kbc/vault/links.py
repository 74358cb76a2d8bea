"""Wikilinks: find them, resolve them against the pages that exist, rewrite them."""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Callable

# [[Target]], [[Target#Heading]], [[Target|shown]], and embeds ![[file.png|300]]
WIKILINK = re.compile(r"(?P<embed>!?)\[\[(?P<target>[^\[\]|#^]*)(?P<anchor>[#^][^\[\]|]*)?(?:\|(?P<shown>[^\[\]]*))?\]\]")
# The pages a paragraph cites, as kbc writes them after it: " ([[A (source)]], [[B (source)]])".
CITATION = re.compile(r"\s*\((\[\[[^\]]+\]\](?:,\s*\[\[[^\]]+\]\])*)\)")


@dataclass(frozen=True)
class Link:
    target: str
    anchor: str
    shown: str
    embed: bool


def find_links(text: str) -> list[Link]:
    return [
        Link(m["target"].strip(), m["anchor"] or "", m["shown"] or "", bool(m["embed"]))
        for m in WIKILINK.finditer(text)
    ]


@functools.lru_cache(maxsize=65536)  # a wiki's pages share most of their links
def link_target(link: str) -> str:
    """The target of one wikilink as written: "[[Paxos#Roles|roles]]" -> "Paxos"."""
    return WIKILINK.match(link)["target"].strip()


@functools.lru_cache(maxsize=65536)  # a whole-wiki pass asks the same few names again and again
def link_key(target: str) -> str:
    """Obsidian compares page names case-insensitively; `[[Note.md]]` is `[[Note]]`."""
    target = target.strip().replace("\\", "/").split("/")[-1]
    if target.lower().endswith(".md"):
        target = target[:-3]
    return target.casefold()


def rewrite_links(text: str, resolve: Callable[[str], str | None]) -> str:
    """Point every page link at `resolve(target)`; a link that resolves to None becomes plain text.

    Links to files (images, PDFs) are left as they are: they are checked elsewhere.
    """
    def replace(m: re.Match) -> str:
        target = m["target"].strip()
        if is_file_link(target):
            return m.group(0)
        new = resolve(target)
        shown = m["shown"]
        if new is None:
            return shown or target
        anchor = m["anchor"] or ""
        suffix = f"|{shown}" if shown else ""
        return f"{m['embed']}[[{new}{anchor}{suffix}]]"

    return WIKILINK.sub(replace, text)


def is_file_link(target: str) -> bool:
    """`[[figure.png]]` names a file; `[[Note]]` and `[[Note.md]]` name a page."""
    name = target.rsplit("/", 1)[-1]
    return bool(re.search(r"\.[A-Za-z0-9]{1,5}$", name)) and not name.lower().endswith(".md")
