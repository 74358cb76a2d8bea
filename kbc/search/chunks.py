"""What the search index holds of a page: its title, aliases and the chunks of its body under
each heading, as a reader sees them (no Markdown syntax, link targets or backlinks).
An index made by other code than this is made again (search_code, m023)."""
from __future__ import annotations

import hashlib
import re
import sys

from kbc.vault import links, markdown
from kbc.vault.files import code_digest
from kbc.vault.frontmatter import split
from kbc.vault.links import WIKILINK
from kbc.vault.markdown import to_plain_text
from kbc.vault.pages import own_body

_HEADING = re.compile(r"^(#{1,3})\s+(.+)$", re.M)


def page_source(text: str, fallback_title: str) -> tuple[str, str, str]:
    """(title, aliases, body): what a page's chunks are made from."""
    try:
        props, body = split(text)
    except Exception:
        props, body = {}, text
    title = str(props.get("title") or fallback_title)
    # " | " keeps each alias whole for retrieval's name matching; FTS reads it as a separator.
    aliases = " | ".join(str(a) for a in props.get("aliases") or [] if a)
    # Backlinks are navigation, not content: they would make pages match what links to them.
    # A paragraph's citations stay: the cited source's title words ("Dynamo") find its pages
    # (left out, ask_quality lost 1 fact of 70, reworded 4, a 1.5K pack 2).
    body = WIKILINK.sub(lambda m: m["shown"] or m["target"], own_body(body))
    return title, aliases, re.sub(r"<!--.*?-->", " ", body, flags=re.S)  # page markers and other comments


def source_digest(source: tuple[str, str, str]) -> str:
    return hashlib.sha256("\0".join(source).encode("utf-8")).hexdigest()[:32]


def chunks_of(title: str, aliases: str, body: str) -> tuple[str, str, list[tuple[str, str]]]:
    chunks, heading, start = [], "", 0
    for match in _HEADING.finditer(body):
        if body[start:match.start()].strip():
            chunks.append((heading, body[start:match.start()].strip()))
        heading, start = match.group(2).strip(), match.end()
    if body[start:].strip() or not chunks:
        chunks.append((heading, body[start:].strip()))
    # Index what a reader sees: no Markdown syntax, link targets or image paths in snippets.
    return title, aliases, [(heading, to_plain_text(text)) for heading, text in chunks]


CODE = code_digest(sys.modules[__name__], markdown, links)
