"""What code keeps true across the whole wiki after any command writes pages: indexes,
closed-world links and backlinks. No LLM involved."""
from __future__ import annotations

from pathlib import Path

from kbc.vault import Vault
from kbc.vault.autolink import MentionLinker
from kbc.vault.indexes import index_entry_for, write_indexes
from kbc.vault.link_graph import LinkGraph, inbound_lists, save_graph
from kbc.vault.link_memo import LinkMemo
from kbc.vault.linkcheck import LinkResolver
from kbc.vault.frontmatter import FrontMatterError, body_of
from kbc.vault.links import link_key, link_target
from kbc.vault.page_index import PageRecord, links_of, page_record, page_records, save_index
from kbc.vault.pages import read_page, set_backlinks, state_of, write_page


LOG_ARCHIVE = "Log of "  # the log's pages of older runs: "Log of 2026-12"


def is_navigation(name: str) -> bool:
    """Index pages and the log: linked from everywhere, so left out of backlinks."""
    return name in ("index", "log", "health") or name.startswith(("Index of ", LOG_ARCHIVE))


LINKED_KINDS = ("concept", "source-summary", "answer")  # prose pages whose mentions get linked


def concept_terms(props: dict[str, dict]) -> dict[str, list[str]]:
    """Every concept page -> its aliases, for linking mentions (`props`: page name -> properties)."""
    return {name: [a for a in page.get("aliases") or [] if isinstance(a, str)]
            for name, page in props.items() if page.get("kind") == "concept"}


def source_titles(props: dict[str, dict]) -> list[str]:
    """The titles of the sources, as their summary pages give them."""
    return [str(page.get("title") or name.removesuffix(" (source)"))
            for name, page in props.items() if page.get("kind") == "source-summary"]


def _records(vault: Vault, pages: dict[str, Path]) -> dict[str, PageRecord]:
    """Page name -> its record, for the readable pages (lint reports the others; an unreadable
    page is never rewritten)."""
    stems = {str(path): path.stem for path in pages.values()}
    return {stems[path]: record for path, record in page_records(vault, stems).items() if record.readable}


def _relisted(pages: dict[str, Path], written: set[Path], removed: set[Path]) -> dict[str, Path]:
    """The wiki's pages after write_indexes (which wrote and removed only index pages), as
    vault.wiki_pages() would list them."""
    paths = (set(pages.values()) - removed) | written
    return {link_key(path.stem): path for path in sorted(paths, key=lambda p: p.parts)}


def _read(path: Path) -> tuple[dict, str] | None:
    try:
        return read_page(path)
    except (OSError, UnicodeDecodeError, FrontMatterError):
        return None


def _body(path: Path) -> str:
    """The page's body, its front matter not parsed (only looked through for changed terms)."""
    try:
        return body_of(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return ""


def refresh_wiki(vault: Vault) -> list[str]:
    """Rewrite the indexes, unlink links to missing pages in kbc's own pages, link the first
    mention of every concept in them, and refresh every backlinks section. Pages a person
    edited are read, never written. Returns the names of the pages whose links changed.

    Whole-wiki work from the page index: a page is read only when it changed, holds a link to
    mend, a mention to link, or backlinks to update."""
    pages = vault.wiki_pages()
    records = _records(vault, pages)
    entries = [e for e in (index_entry_for(vault.wiki_dir / f"{name}.md", r.props) for name, r in records.items()) if e]
    written, removed = write_indexes(vault, entries, vault.settings.index_max_tokens)
    pages = _relisted(pages, written, removed)
    records.update(_records(vault, {link_key(p.stem): p for p in written}))
    records = {path.stem: records[path.stem] for path in pages.values() if path.stem in records}
    props = {name: record.props for name, record in records.items()}
    aliases = vault.page_aliases(props)
    resolver = LinkResolver(vault.note_names(pages), aliases)
    repaired = []
    inbound: dict[str, set[str]] = {}
    linker = MentionLinker(concept_terms(props), source_titles(props))
    memo = LinkMemo(vault.db, vault.db_lock, linker)  # pages linked before and unchanged are skipped
    names = {key: path.stem for key, path in pages.items()}
    mends: dict[str, bool] = {}  # link as written -> whether the resolver rewrites it (pages share most links)

    def mend(link: str) -> bool:
        if link not in mends:
            mends[link] = resolver.fix(link) != link
        return mends[link]

    # Read only the pages of kbc's with a link to mend or a mention to link (a term added,
    # removed or moved since they were last linked), then link them with one focused linker.
    todo: dict[str, tuple[dict, str, str, bool]] = {}  # key -> properties, body, body mended, relink
    for key, path in pages.items():
        record = records.get(names[key])
        if record is None or record.state != "ours":
            continue
        relink = record.kind in LINKED_KINDS and memo.needed(names[key], record.digest, lambda: _body(path))
        if relink or any(mend(link) for link in record.links):
            page = _read(path)
            if page is not None and state_of(*page) == "ours":
                todo[key] = (*page, resolver.fix(page[1]), relink)
    linker.focus([fixed for _, _, fixed, _ in todo.values()])
    for key, path in pages.items():
        name = names[key]
        if name not in records:
            continue
        links = records[name].links
        if key in todo:
            props_now, body, fixed, relink = todo[key]
            if props_now.get("kind") in LINKED_KINDS and (fixed != body or relink):
                fixed = linker.link(fixed, name)
                memo.linked(name, fixed)
            if fixed != body:
                write_page(vault, path, props_now, fixed, str(props_now.get("kind", "page")),
                           str(props_now.get("kbc_prompt", "")), str(props_now.get("kbc_model", "")))
                repaired.append(name)
            links = links_of(fixed)
        if is_navigation(name):
            continue
        for link in links:  # a backlinks list is not a link of its page
            target = resolver.resolve(link_target(link))
            if target and link_key(target) != key:
                inbound.setdefault(link_key(target), set()).add(name)
    for key, path in pages.items():
        if is_navigation(names[key]):
            continue
        wanted = sorted(inbound.get(key, ()))
        record = page_record(vault, path)  # as it is now: rewritten above, or not
        if record is not None and record.state == "ours" and list(record.backlinks) != wanted:
            set_backlinks(vault, path, wanted)
    memo.save(set(names.values()))
    save_graph(vault, LinkGraph(inbound_lists(inbound), aliases), pages)  # for kbc serve, with the pages' stamp
    save_index(vault, pages.values())  # the pages' records the run read again, for the next one
    return repaired
