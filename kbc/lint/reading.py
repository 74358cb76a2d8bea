"""Lint's reading of the wiki: each page's properties, body and link targets, through the page
index (kbc/vault/page_index.py), so a page unchanged since kbc last read it has its front
matter and links from the index, not parsed again (most of lint's time at 10,000 sources).
The body is still read: the empty, cut-off and index-size checks need the text itself."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from kbc.vault.frontmatter import FrontMatterError, split
from kbc.vault.links import find_links, is_file_link, link_key, link_target
from kbc.vault.page_index import read_with_body
from kbc.vault.page_text import BACKLINKS_START

STATE_FOLDER = ".kbc"


@dataclass(frozen=True)
class LintPage:
    props: dict
    body: str
    targets: frozenset[str]  # of its links (own body and backlinks), stripped as find_links strips
    error: str = ""  # why its front matter cannot be read


def read_pages(vault, pages: dict[str, Path]) -> dict[str, LintPage]:
    """link key -> the page, for each of `pages` still there."""
    out = {}
    for key, path in pages.items():
        got = read_with_body(vault, path)
        # The index keeps the first backlinks section's targets: a page with more is read in full.
        if got is not None and got[0].readable and got[1].count(BACKLINKS_START) <= 1:
            record, body = got
            own = {link_target(link) for link in set(record.links)}
            out[key] = LintPage(record.props, body, frozenset(own.union(record.backlinks)))
            continue
        page = _read_in_full(path)
        if page is not None:
            out[key] = page
    return out


def _read_in_full(path: Path) -> LintPage | None:
    """A page the index has not (unreadable, broken front matter, several backlinks sections)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:  # gone since the wiki was listed
        return None
    except UnicodeDecodeError:
        return LintPage({}, "", frozenset(), "not UTF-8 text")
    error = ""
    try:
        props, body = split(text)
    except FrontMatterError as exc:
        props, body, error = {}, text.split("---", 2)[-1], str(exc)
    return LintPage(props, body, frozenset(link.target for link in find_links(body)), error)


class LinkOutcomes:
    """What each link target is (a file, no page, or the key of the page it reaches), worked
    out once per target however many pages link to it."""

    def __init__(self, vault, resolver, exact: set[str]):
        self.vault, self.resolver, self.exact = vault, resolver, exact
        self._files: set[str] | None = None
        self._seen: dict[str, tuple[str, str]] = {}

    def of(self, target: str) -> tuple[str, str]:
        """('missing-file' | 'file' | 'dangling' | 'page', resolved link key or '')."""
        seen = self._seen.get(target)
        if seen is None:
            seen = self._seen[target] = self._work_out(target)
        return seen

    def _work_out(self, target: str) -> tuple[str, str]:
        if is_file_link(target):
            return ("file" if target.rsplit("/", 1)[-1].casefold() in self.files() else "missing-file"), ""
        if link_key(target) not in self.exact:
            return "dangling", ""
        resolved = self.resolver.resolve(target)
        return "page", link_key(resolved) if resolved else ""

    def files(self) -> set[str]:
        """The vault's file names (its state folder aside): walked only if a page embeds one."""
        if self._files is None:
            self._files = file_names(self.vault.root)
        return self._files


def file_names(root: Path) -> set[str]:
    """Case-folded names of the files under `root`, hidden ones too, outside any .kbc folder;
    linked folders are not entered, a link to a file counts (what root.rglob("*") and is_file()
    find, without a stat per file)."""
    if STATE_FOLDER in root.parts:
        return set()
    names, pending = set(), [str(root)]
    while pending:
        try:
            listing = os.scandir(pending.pop())
        except PermissionError:
            continue
        with listing:
            for entry in listing:
                if entry.name == STATE_FOLDER:
                    continue
                try:
                    is_folder = entry.is_dir()
                except OSError:
                    is_folder = False
                if is_folder:
                    if not entry.is_symlink():
                        pending.append(entry.path)
                elif entry.is_file():  # a broken link is no file
                    names.add(entry.name.casefold())
    return names
