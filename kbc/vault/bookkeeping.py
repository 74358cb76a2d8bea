"""What code keeps true across the whole wiki after any command writes pages: indexes,
closed-world links and backlinks. No LLM involved."""
from __future__ import annotations

import os
from pathlib import Path

from kbc.vault import Vault
from kbc.vault.autolink import MentionLinker
from kbc.vault.files import walk_paths, walk_stems
from kbc.vault.indexes import index_entry, write_indexes
from kbc.vault.link_graph import save_graph
from kbc.vault.link_memo import LinkMemo
from kbc.vault.linkcheck import LinkResolver
from kbc.vault.frontmatter import FrontMatterError, body_of
from kbc.vault.links import link_key, link_target
from kbc.vault.page_index import holding_words, links_of, mtimes, page_record, page_snaps, preload, save_index
from kbc.vault.page_words import LINKED_KINDS
from kbc.vault.pages import read_page, set_backlinks, state_of, write_page
from kbc.vault.wiki_links import WikiLinks


LOG_ARCHIVE = "Log of "  # the log's pages of older runs: "Log of 2026-12"


def is_navigation(name: str) -> bool:
    """Index pages and the log: linked from everywhere, so left out of backlinks."""
    return name in ("index", "log", "health") or name.startswith(("Index of ", LOG_ARCHIVE))




def concept_terms(props: dict[str, dict]) -> dict[str, list[str]]:
    """Every concept page -> its aliases, for linking mentions (`props`: page name -> properties)."""
    return {name: [a for a in page.get("aliases") or [] if isinstance(a, str)]
            for name, page in props.items() if page.get("kind") == "concept"}


def source_titles(props: dict[str, dict]) -> list[str]:
    """The titles of the sources, as their summary pages give them."""
    return [str(page.get("title") or name.removesuffix(" (source)"))
            for name, page in props.items() if page.get("kind") == "source-summary"]


def _stem(path: str) -> str:
    return path.rpartition(os.sep)[2][:-3]  # the pages are the .md files


def _listed(vault: Vault) -> dict[str, str]:
    """vault.wiki_pages(), as path strings."""
    if not vault.wiki_dir.is_dir():
        return {}
    return {link_key(_stem(path)): path for path in walk_paths(vault.wiki_dir, within=vault.root, suffix=".md")}


def _relisted(pages: dict[str, str], written: set[Path], removed: set[Path]) -> dict[str, str]:
    """The wiki's pages after write_indexes (which wrote and removed only index pages), as
    vault.wiki_pages() would list them."""
    listed = set(pages.values())
    new, gone = {str(p) for p in written} - listed, {str(p) for p in removed} & listed
    if not new and not gone:  # the index pages there were, rewritten or not: the same list
        return pages
    paths = (listed - gone) | new
    return {link_key(_stem(path)): path for path in sorted(paths, key=lambda p: p.split(os.sep))}


def _read(path: str) -> tuple[dict, str] | None:
    try:
        return read_page(Path(path))
    except (OSError, UnicodeDecodeError, FrontMatterError):
        return None


def _body(path: str) -> str:
    """The page's body, its front matter not parsed (only looked through for changed terms)."""
    try:
        with open(path, encoding="utf-8") as handle:
            return body_of(handle.read())
    except (OSError, UnicodeDecodeError):
        return ""


def _to_link(props: dict, body: str, mended: str, relink: bool) -> bool:
    """Are a read page's mentions linked this refresh? (Its kind is linked, and its links were
    mended or a term it may hold changed.)"""
    return props.get("kind") in LINKED_KINDS and (mended != body or relink)


def refresh_wiki(vault: Vault) -> list[str]:
    """Rewrite the indexes, unlink links to missing pages in kbc's own pages, link the first
    mention of every concept in them, and refresh every backlinks section. Pages a person
    edited are read, never written. Returns the names of the pages whose links changed.

    Work in proportion to what changed: every page is stat'ed, but a page is read only when it
    changed, holds a link that may now resolve elsewhere, or a word a changed term begins;
    the links of the others, and whom they reach, are as the last refresh left them
    (wiki_links), and a backlinks section is compared only where what links to it changed."""
    pages = _listed(vault)
    snaps = page_snaps(vault, pages.values())
    entries = [e for e in (index_entry(_stem(path), snaps[path].light) for path in pages.values()
                           if path in snaps and snaps[path].readable) if e]
    written, removed = write_indexes(vault, entries, vault.settings.index_max_tokens)
    pages = _relisted(pages, written, removed)
    snaps.update(page_snaps(vault, [str(p) for p in written]))
    names = {key: _stem(path) for key, path in pages.items()}
    readable = {key: snaps[path] for key, path in pages.items() if path in snaps and snaps[path].readable}
    light = {names[key]: snap.light for key, snap in readable.items()}
    aliases = vault.page_aliases(light)
    resolver = LinkResolver([*names.values(), *_raw_names(vault)], aliases)
    linker = MentionLinker(concept_terms(light), source_titles(light))
    memo = LinkMemo(vault.db, vault.db_lock, linker)  # pages linked before and unchanged are skipped
    graph = WikiLinks(vault)
    moved = graph.moved(resolver.pages, resolver.aliases)
    # The pages whose links are worked out again: changed since the last refresh, linking to
    # a name or alias that moved (or by a fuzzy match, or to no page, when any did), navigation.
    look = {key for key, snap in readable.items() if graph.seen.get(key) != snap.rev or not snap.rev}
    look |= graph.reaching(moved) | (graph.loose if moved else set())
    look &= readable.keys()
    graph.load(look)
    preload(vault, [pages[key] for key in look])

    def suspect(link: str) -> bool:
        """May the link resolve elsewhere than at the last refresh? (Navigation links to no
        page's backlinks, so only its own links say it may need mending.)"""
        key = link_key(link_target(link))
        return key in moved or (key not in resolver.pages and key not in resolver.aliases)
    holders = None if None in memo.tokens else holding_words(vault, memo.tokens) if memo.probe else set()
    mends: dict[str, bool] = {}  # link as written -> whether the resolver rewrites it (pages share most links)

    def mend(link: str) -> bool:
        if link not in mends:
            mends[link] = resolver.fix(link) != link
        return mends[link]

    # Read only the pages of kbc's with a link to mend or a mention to link (a term added,
    # removed or moved since they were last linked), then link them with one focused linker.
    todo: dict[str, tuple[dict, str, str, bool]] = {}  # key -> properties, body, body mended, relink
    for key, path in pages.items():
        snap = readable.get(key)
        if snap is None or snap.state != "ours":
            continue
        may_hold = holders is None or path in holders
        relink = snap.light.get("kind") in LINKED_KINDS and memo.needed(names[key], snap.digest,
                                                                        lambda: _body(path), may_hold)
        checked = key in look or (moved and is_navigation(names[key]))
        if relink or (checked and any(mend(link) for link in _links(vault, path) if key in look or suspect(link))):
            page = _read(path)
            if page is not None and state_of(*page) == "ours":
                todo[key] = (*page, resolver.fix(page[1]), relink)
    # Focused on the texts it will link: a navigation page read to mend a link lists every name.
    linker.focus([page[2] for page in todo.values() if _to_link(*page)])
    repaired = []
    for key, path in pages.items():
        if key not in readable or (key not in look and key not in todo):
            continue
        name = names[key]
        links: tuple[str, ...] = ()
        if key in todo:
            props_now, body, fixed, relink = todo[key]
            if _to_link(props_now, body, fixed, relink):
                fixed = linker.link(fixed, name)
                memo.linked(name, fixed)
            if fixed != body:
                write_page(vault, Path(path), props_now, fixed, str(props_now.get("kind", "page")),
                           str(props_now.get("kbc_prompt", "")), str(props_now.get("kbc_model", "")))
                repaired.append(name)
            links = links_of(fixed)
        elif not is_navigation(name):
            links = _links(vault, path)
        if is_navigation(name):  # linked from everywhere, and linking to no backlinks
            graph.relink(key, name, [], False)
            continue
        targets = [link_target(link) for link in links]
        reached = {link_key(t) for t in map(resolver.resolve, targets) if t} - {key}
        loose = any(link_key(t) not in resolver.pages and link_key(t) not in resolver.aliases for t in targets)
        graph.relink(key, name, sorted(reached), loose)
    for key in set(graph.seen) - readable.keys():
        graph.drop(key)
    # A backlinks section changes only where the pages linking to it did, or where its page did.
    compared = sorted((graph.touched | look) & readable.keys())
    graph.load(compared)
    preload(vault, [pages[key] for key in compared])
    for key in compared:
        path = pages[key]
        if not is_navigation(names[key]):
            wanted = sorted(graph.inbound(key))
            record = page_record(vault, Path(path))  # as it is now: rewritten above, or not
            if record is not None and record.state == "ours" and list(record.backlinks) != wanted:
                set_backlinks(vault, Path(path), wanted)
        now = page_snaps(vault, [path]).get(path)
        graph.saw(key, now.rev if now is not None else "")
    memo.save(set(names.values()))
    graph.save(resolver.pages, resolver.aliases)
    stamp = tuple(sorted(mtimes(vault, pages.values()).items()))  # as wiki_stamp() gives it, no page stat'ed again
    save_graph(vault, aliases, stamp)  # for kbc serve
    save_index(vault, pages.values())  # the pages' records the run read again, for the next one
    return repaired


def _links(vault: Vault, path: str) -> tuple[str, ...]:
    record = page_record(vault, Path(path))
    return record.links if record is not None else ()


def _raw_names(vault: Vault) -> list[str]:
    """The raw notes' names, as vault.note_names() lists them after the wiki's pages."""
    return walk_stems(vault.raw_dir, within=vault.root) if vault.raw_dir.is_dir() else []
