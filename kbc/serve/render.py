"""Markdown to HTML for kbc serve: wikilinks, heading anchors, footnotes, task lists, tables.

Headings get ids by `heading_id`, and a link [[Page#Heading]] points at the same id, so it
lands on the heading as it does in Obsidian.
"""
from __future__ import annotations

import re
from typing import Callable

from markdown_it import MarkdownIt
from mdit_py_plugins.anchors import anchors_plugin
from mdit_py_plugins.footnote import footnote_plugin
from mdit_py_plugins.tasklists import tasklists_plugin

from kbc.vault.markdown import wikilink_plugin


def heading_id(text: str) -> str:
    """A heading's id: lower case, punctuation dropped, spaces as hyphens (letters of any script kept)."""
    return re.sub(r"\s+", "-", re.sub(r"[^\w\s-]", "", text.strip().casefold()))


def renderer(render_link: Callable[[dict], str]) -> MarkdownIt:
    """A Markdown renderer with raw HTML off (a note's markup is shown as text, never run)."""
    md = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
    wikilink_plugin(md, render_link)
    anchors_plugin(md, min_level=1, max_level=6, slug_func=heading_id)
    footnote_plugin(md)
    tasklists_plugin(md)
    return md
