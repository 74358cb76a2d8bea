"""How a context pack reads as Markdown: dense, because an agent pays for every token of it.

Each source page quoted in the pack gets a short id ([S1], [S2], in the pack's stable order),
given once on its own block beside the note its lines come from; the pages citing it say
"cites [S1]" and their text's links to it read [S1]. Excerpts are "12-13: text" under that
header. A page's kind shares one line with what is cited; its links are only the pages the
question also matches. The query is not repeated: the agent asked it.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

from kbc.vault.links import link_key

if TYPE_CHECKING:
    from kbc.search.context import Pack, PackedPage

_LINK = re.compile(r"\[\[([^\[\]|#]+)(?:#[^\[\]|]*)?(?:\|[^\[\]]*)?\]\]")


def source_ids(pages: list[PackedPage]) -> dict[str, str]:
    """Source page name -> its short id, for the source pages the pack gives (in pack order)."""
    sources = [p.name for p in pages if p.kind == "source-summary"]
    return {name: f"S{number}" for number, name in enumerate(sources, start=1)}


def page_header(page: PackedPage, ids: dict[str, str]) -> str:
    lines = [f"=== {page.name} ==="]
    if page.text or page.kind != "source-summary":
        meta = [page.kind] + ([] if page.whole else ["best paragraphs only"])
        cited = [f"[{ids[n]}]" if n in ids else f"[[{n}]]" for n in page.sources]
        if cited:
            meta.append("cites " + ", ".join(cited))
        lines.append(f"({'; '.join(meta)})")
    if page.links:
        lines.append("Links: " + ", ".join(f"[[{n}]]" for n in page.links))
    return "\n".join(lines)


def excerpts_header(page: PackedPage, ids: dict[str, str]) -> str:
    label = f"[{ids[page.name]}] " if page.name in ids else ""
    return f"{label}lines of `{page.note}`:"


def page_body(page: PackedPage, ids: dict[str, str]) -> str:
    """The page's text (its links to sources quoted here shortened to their ids), then its lines."""
    parts = [_short_links(_without_title(page.text), ids)] if page.text else []
    if page.excerpts:
        parts.append("\n".join([excerpts_header(page, ids)]
                               + [f"{excerpt.lines}: {excerpt.text}" for excerpt in page.excerpts]))
    return "\n\n".join(parts)


def named_line(pages: list[PackedPage], ids: dict[str, str]) -> str:
    """The pages without room for their text, named in one line with what they cite."""
    def one(page: PackedPage) -> str:
        cited = [f"[{ids[n]}]" if n in ids else f"[[{n}]]" for n in page.sources]
        return f"[[{page.name}]]" + (f" (cites {', '.join(cited)})" if cited else "")
    return "Pages on this, not given here: " + "; ".join(one(p) for p in pages)


def render(pack: Pack) -> str:
    given = pack.given()
    ids = source_ids(given)
    named = [p for p in pack.pages if not (p.text or p.excerpts)]
    out = [page_header(page, ids) + "\n" + page_body(page, ids) + "\n" for page in given]
    if named:
        out.append(named_line(named, ids) + "\n")
    if pack.see_also:
        out.append("See also (saved answers and outputs, not evidence): "
                   + ", ".join(f"[[{n}]]" for n in pack.see_also) + "\n")
    out.append(f"(kbc context: {len(pack.pages)} pages)")
    return "\n".join(out) + "\n"


def _without_title(text: str) -> str:
    """The text without its opening '# Title' line: the block's header names the page."""
    first, _, rest = text.partition("\n")
    return rest.lstrip("\n") if first.startswith("# ") and rest.strip() else text


def _short_links(text: str, ids: dict[str, str]) -> str:
    if not ids:
        return text
    by_key = {link_key(name): short for name, short in ids.items()}
    return _LINK.sub(lambda m: f"[{by_key[key]}]" if (key := link_key(m[1])) in by_key else m[0], text)
