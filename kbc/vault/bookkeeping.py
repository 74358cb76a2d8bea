"""What code keeps true across the whole wiki after any command writes pages: indexes,
closed-world links and backlinks. No LLM involved."""
from __future__ import annotations

from kbc.vault import Vault
from kbc.vault.autolink import MentionLinker
from kbc.vault.indexes import index_entry_for, write_indexes
from kbc.vault.link_graph import LinkGraph, inbound_lists, save_graph
from kbc.vault.link_memo import LinkMemo
from kbc.vault.page_states import save_states
from kbc.vault.linkcheck import LinkResolver
from kbc.vault.frontmatter import FrontMatterError, split
from kbc.vault.links import find_links, link_key
from kbc.vault.pages import own_body, read_page, set_backlinks, state_of, write_page


def is_navigation(name: str) -> bool:
    """Index pages and the log: linked from everywhere, so left out of backlinks."""
    return name in ("index", "log", "health") or name.startswith("Index of ")


LINKED_KINDS = ("concept", "source-summary", "answer")  # prose pages whose mentions get linked


def concept_terms(pages: dict[str, tuple[dict, str]]) -> dict[str, list[str]]:
    """Every concept page -> its aliases, for linking mentions."""
    return {name: [a for a in props.get("aliases") or [] if isinstance(a, str)]
            for name, (props, _) in pages.items() if props.get("kind") == "concept"}


def source_titles(pages: dict[str, tuple[dict, str]]) -> list[str]:
    """The titles of the sources, as their summary pages give them."""
    return [str(props.get("title") or name.removesuffix(" (source)"))
            for name, (props, _) in pages.items() if props.get("kind") == "source-summary"]


def refresh_wiki(vault: Vault) -> list[str]:
    """Rewrite the indexes, unlink links to missing pages in kbc's own pages, link the first
    mention of every concept in them, and refresh every backlinks section. Pages a person
    edited are read, never written. Returns the names of the pages whose links changed."""
    # Every page is read and parsed once here (at 10,000 pages, parsing is most of the time);
    # only the navigation pages write_indexes rewrites are read again.
    texts: dict[str, str] = {}
    parsed: dict[str, tuple[dict, str]] = {}

    def read(path):
        try:
            texts[path.stem] = path.read_text(encoding="utf-8")
            parsed[path.stem] = split(texts[path.stem])
        except (OSError, UnicodeDecodeError, FrontMatterError):
            texts.pop(path.stem, None)  # lint reports it; an unreadable page is never rewritten

    for path in vault.wiki_pages().values():
        read(path)
    entries = [e for e in (index_entry_for(vault.wiki_dir / f"{name}.md", props)
                           for name, (props, _) in parsed.items()) if e]
    write_indexes(vault, entries, vault.settings.index_max_tokens)
    pages = vault.wiki_pages()
    for path in pages.values():
        if is_navigation(path.stem) or path.stem not in texts:
            parsed.pop(path.stem, None)
            read(path)
    parsed = {path.stem: parsed[path.stem] for path in pages.values() if path.stem in parsed}
    aliases = vault.page_aliases(parsed)
    resolver = LinkResolver(vault.note_names(pages), aliases)
    repaired = []
    inbound: dict[str, set[str]] = {}
    linker = MentionLinker(concept_terms(parsed), source_titles(parsed))
    memo = LinkMemo(vault.db, vault.db_lock, linker)  # pages linked before and unchanged are skipped
    for path in pages.values():
        if path.stem not in parsed:
            continue
        props, body = parsed[path.stem]
        if state_of(props, body) == "ours":
            fixed = resolver.fix(body)
            if props.get("kind") in LINKED_KINDS and (fixed != body or memo.needed(path.stem, body)):
                fixed = linker.link(fixed, path.stem)
                memo.linked(path.stem, fixed)
            if fixed != body:
                write_page(vault, path, props, fixed, str(props.get("kind", "page")),
                           str(props.get("kbc_prompt", "")), str(props.get("kbc_model", "")))
                repaired.append(path.stem)
                body = fixed
        for link in find_links(own_body(body)):  # a backlinks list is not a link of its page
            target = resolver.resolve(link.target)
            if target and link_key(target) != link_key(path.stem) and not is_navigation(path.stem):
                inbound.setdefault(link_key(target), set()).add(path.stem)
    rewritten = set(repaired)
    for key, path in pages.items():
        if not is_navigation(path.stem):
            known = (*parsed[path.stem], texts[path.stem]) if path.stem in parsed and path.stem not in rewritten else None
            set_backlinks(vault, path, sorted(inbound.get(key, ())), known)
    memo.save({path.stem for path in pages.values()})
    save_graph(vault, LinkGraph(inbound_lists(inbound), aliases), pages)  # for kbc serve, with the pages' stamp
    save_states(vault)  # the pages' states the run found, for the next one
    return repaired
