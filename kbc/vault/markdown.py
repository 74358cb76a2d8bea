"""Markdown as text: what a reader (or a scorer, or the search index) sees, without link targets."""
from __future__ import annotations

from markdown_it import MarkdownIt

from kbc.vault.links import WIKILINK

_md = MarkdownIt("commonmark").enable("table").enable("strikethrough")

_BLOCK_ENDS = {"paragraph_close", "heading_close", "list_item_close", "tr_close", "blockquote_close",
               "code_block", "fence", "hr"}


def to_plain_text(markdown: str) -> str:
    """Visible text of a Markdown document: link text kept, link targets, image sources and
    embeds dropped, one line per block."""
    markdown = WIKILINK.sub(lambda m: "" if m["embed"] else (m["shown"] or m["target"]), markdown)
    out: list[str] = []
    line: list[str] = []

    def flush():
        text = "".join(line).strip()
        if text:
            out.append(text)
        line.clear()

    for token in _md.parse(markdown):
        if token.type == "inline":
            for child in token.children or []:
                if child.type in ("text", "code_inline"):
                    line.append(child.content)
                elif child.type in ("softbreak", "hardbreak"):
                    line.append(" ")
        elif token.type in ("code_block", "fence"):
            flush()
            out.append(token.content.rstrip())
        elif token.type in ("th_close", "td_close"):
            line.append(" ")
        if token.type in _BLOCK_ENDS:
            flush()
    flush()
    return "\n".join(out) + ("\n" if out else "")


def wikilink_plugin(md: MarkdownIt, render) -> None:
    """An inline rule for [[Page]], [[Page#Heading|shown]] and ![[file.png]]; `render(meta)`
    returns the HTML for one link (meta: target, anchor, shown, embed)."""

    def rule(state, silent: bool) -> bool:
        src, pos = state.src, state.pos
        embed = src.startswith("![[", pos)
        if not (embed or src.startswith("[[", pos)):
            return False
        start = pos + (3 if embed else 2)
        end = src.find("]]", start)
        if end < 0 or "\n" in src[start:end] or "[" in src[start:end]:
            return False
        match = WIKILINK.fullmatch(src[pos:end + 2])
        if match is None:
            return False
        if not silent:
            token = state.push("wikilink", "", 0)
            token.meta = {"target": match["target"].strip(), "anchor": (match["anchor"] or "")[1:],
                          "shown": match["shown"] or "", "embed": embed}
        state.pos = end + 2
        return True

    md.inline.ruler.before("link", "wikilink", rule)
    md.add_render_rule("wikilink", lambda self, tokens, idx, options, env: render(tokens[idx].meta))
