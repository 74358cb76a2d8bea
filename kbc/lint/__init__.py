"""Lint: structural health checks of a wiki (code only, fast) and what code can mend."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from kbc.compile.consolidate import NEAR_DUPLICATE, duplicate_label
from kbc.compile.fuzzy_index import RatioIndex
from kbc.compile.plan import is_stale
from kbc.lint.decided import decided_pairs
from kbc.lint.reading import LinkOutcomes, read_pages
from kbc.vault import Vault
from kbc.vault.bookkeeping import is_navigation, refresh_wiki
from kbc.vault.files import sha256_text
from kbc.vault.indexes import estimate_tokens, index_entry_for
from kbc.vault.linkcheck import LinkResolver
from kbc.vault.links import link_key
from kbc.vault.pages import page_state, read_page, write_page

LIST_PROPERTIES = ("tags", "aliases", "cssclasses")
TAG = re.compile(r"^[\w/-]*[^\W\d][\w/-]*$")


@dataclass(frozen=True)
class Problem:
    check: str
    page: str
    detail: str

    def to_dict(self) -> dict:
        return dict(self.__dict__)

    def line(self) -> str:
        return f"{self.check}: [[{self.page}]]: {self.detail}"


@dataclass
class Expectations:
    """What the current templates and model would write, to tell stale pages."""
    versions: dict  # page kind -> prompt version
    model: str


def check(vault: Vault, expect: Expectations | None = None) -> list[Problem]:
    pages = vault.wiki_pages()
    # Every page is read once, through the page index: names, aliases and links come from it.
    parsed = read_pages(vault, pages)
    pages = {key: path for key, path in pages.items() if key in parsed}
    problems = [Problem("invalid-front-matter", pages[key].stem, page.error) for key, page in parsed.items() if page.error]
    names = vault.note_names(pages)
    aliases = vault.page_aliases({pages[key].stem: page.props for key, page in parsed.items()})
    exact = {link_key(n) for n in names} | {link_key(a) for a in aliases}
    outcomes = LinkOutcomes(vault, LinkResolver(names, aliases), exact)
    inbound: set[str] = set()  # only whether a page has a link in counts
    indexed: set[str] = set()
    for key, page in parsed.items():
        name, body = pages[key].stem, page.body
        is_index = name == "index" or name.startswith("Index of ")
        problems += _front_matter_problems(name, page.props)
        for target in page.targets:
            if not target:
                continue
            outcome, resolved = outcomes.of(target)
            if outcome == "missing-file":
                problems.append(Problem("missing-embed", name, f"{target} is not in the vault"))
            elif outcome == "dangling":
                problems.append(Problem("dangling-link", name, f"[[{target}]] points at no page"))
            elif resolved and resolved != key:
                # a link from an index does not make a page less of an orphan
                (indexed if is_index else inbound).add(resolved)
        if _is_empty(body):
            problems.append(Problem("empty-page", name, "the page has no text"))
        elif _looks_cut_off(body):
            problems.append(Problem("cut-off-page", name, "the text stops mid-sentence or inside a code block"))
        if is_index and estimate_tokens(body) > vault.settings.index_max_tokens:
            problems.append(Problem("index-too-large", name,
                                    f"about {estimate_tokens(body):,} tokens, over the {vault.settings.index_max_tokens:,} limit"))
    for key, path in pages.items():
        props = parsed[key].props
        if is_navigation(path.stem) or props.get("kind") in ("proposal", "redirect"):
            continue
        if key not in inbound:
            problems.append(Problem("orphan-page", path.stem, "no page links here"))
        if index_entry_for(path, props) and key not in indexed:
            problems.append(Problem("not-in-index", path.stem, "missing from the index pages"))
    problems += _duplicates(pages, {key: page.props for key, page in parsed.items()},
                            lambda among: decided_pairs(vault, among))
    problems += _source_problems(vault, pages, expect)
    if expect:
        problems += _stale_by_version(vault, pages, parsed, expect)
    return sorted(set(problems), key=lambda p: (p.check, p.page.casefold(), p.detail))


def _is_empty(body: str) -> bool:
    """Nothing but headings and blank lines."""
    return all(line.startswith("#") or not line.strip() for line in body.split("\n"))


def _front_matter_problems(name: str, props: dict) -> list[Problem]:
    problems = []
    for key in LIST_PROPERTIES:
        if key in props and not isinstance(props[key], list):
            problems.append(Problem("invalid-front-matter", name, f"`{key}` must be a list"))
    for tag in props.get("tags") or [] if isinstance(props.get("tags"), list) else []:
        if not isinstance(tag, str) or not TAG.match(tag):
            problems.append(Problem("invalid-front-matter", name, f"tag {tag!r} is not a valid tag"))
    for key in ("tag", "alias", "cssclass"):
        if key in props:
            problems.append(Problem("invalid-front-matter", name, f"`{key}` is gone since Obsidian 1.9: use `{key}s`"))
    return problems


def _looks_cut_off(body: str) -> bool:
    text = re.sub(r"<!--.*?-->", "", body, flags=re.S).rstrip()
    if text.count("```") % 2:
        return True
    last = text.split("\n")[-1].strip()
    prose = last and not last.startswith(("#", "-", "*", "|", ">", "!", "[")) and len(last) > 60
    return bool(prose and not re.search(r"[.!?:;)\]\"'`*”’]$", last))


def _duplicates(pages, props_of: dict[str, dict], decided: Callable[[set[str]], set[frozenset]]) -> list[Problem]:
    """Concept pages whose names or aliases are near-identical: one idea on two pages.
    Pages compile's consolidation (or a person, in kbc-merges.toml) kept apart are not:
    `decided(keys)` gives those pairs among the pages `keys`.

    Each label's near duplicates come from an index (kbc/compile/fuzzy_index.py: what a
    comparison of all pairs finds, without comparing all pairs)."""
    names, labels, owner = [], [], []
    for key, props in props_of.items():
        if props.get("kind") == "concept":
            for label in [pages[key].stem] + [a for a in props.get("aliases") or [] if isinstance(a, str)]:
                labels.append(duplicate_label(label))
                owner.append(len(names))
            names.append(pages[key].stem)
    close = {(min(owner[i], owner[j]), max(owner[i], owner[j])) for i, j in near_pairs(labels)
             if owner[i] != owner[j]}
    problems = []
    apart = decided({link_key(names[i]) for pair in close for i in pair})
    for a, b in sorted(close):
        first, second = names[a], names[b]
        if frozenset((link_key(first), link_key(second))) not in apart:
            problems.append(Problem("duplicate-concept", first, f"same concept as [[{second}]]?"))
    return problems


def near_pairs(labels: list[str]) -> set[tuple[int, int]]:
    """(i, j) for the labels within NEAR_DUPLICATE of each other, each pair found once from its
    shorter side: one index per label length, asked only by labels not longer than its own
    (one index of all asked by every label does twice the work)."""
    at_length: dict[int, list[int]] = {}
    for position, label in enumerate(labels):
        at_length.setdefault(len(label), []).append(position)
    indexes = {size: RatioIndex([labels[p] for p in positions], NEAR_DUPLICATE)
               for size, positions in at_length.items()}
    reach = 200 / NEAR_DUPLICATE - 1  # ratio >= cutoff needs the longer within this factor of the shorter
    pairs = set()
    for row, label in enumerate(labels):
        for size, index in indexes.items():
            if len(label) <= size <= len(label) * reach + 1:
                pairs.update((row, at_length[size][col]) for col in index.near(label))
    return pairs


def _source_problems(vault: Vault, pages, expect) -> list[Problem]:
    """Raw notes without a summary page, and summaries older than their source."""
    problems = []
    with vault.db_lock:
        manifest = {path: (page, digest) for path, page, digest in
                    vault.db.execute("select path, summary_page, sha256 from sources")}
    # A note's path from the vault's root, resolved only where a link may lead elsewhere.
    plain = not vault.raw_dir.is_symlink()
    for note in sorted(vault.raw_dir.rglob("*.md")) if vault.raw_dir.is_dir() else []:
        inside = note.relative_to(vault.raw_dir)
        rel = f"{vault.raw_dir.name}/{inside.as_posix()}" if plain and not note.is_symlink() else vault.rel(note)
        if "/attachments/" in rel or any(p.startswith(".") for p in inside.parts):
            continue
        page, digest = manifest.get(rel, (None, None))
        if page is None or link_key(Path(page).stem) not in pages:
            problems.append(Problem("source-without-summary", note.stem, f"{rel} has no summary page; run `kbc compile`"))
        elif digest != sha256_text(note.read_text(encoding="utf-8", errors="replace")):
            problems.append(Problem("stale-page", Path(page).stem,
                                    f"{rel} changed since the page was written; run `kbc compile`"))
    return problems


def _stale_by_version(vault, pages, parsed, expect: Expectations) -> list[Problem]:
    problems = []
    for key, page in parsed.items():
        props = page.props
        version = expect.versions.get(props.get("kind"))
        if version is None or "kbc_prompt" not in props:
            continue
        if is_stale(props.get("kbc_prompt"), props.get("kbc_model"), version, expect.model):
            problems.append(Problem("stale-page", pages[key].stem,
                                    "written by another prompt version or model; run `kbc compile --stale`"))
    return problems


def fix(vault: Vault, expect: Expectations | None = None) -> tuple[list[Problem], list[Problem]]:
    """Mend what code can: links, indexes, backlinks and front matter of pages kbc owns.
    Pages a person edited are never written. Returns (problems fixed, problems left)."""
    before = check(vault, expect)
    for path in vault.wiki_pages().values():
        if page_state(vault, path) != "ours":
            continue
        props, body = read_page(path)
        mended = _mended_front_matter(props)
        if mended != props:
            mended.pop("kbc_hash", None)
            write_page(vault, path, mended, body, str(props.get("kind", "page")),
                       str(props.get("kbc_prompt", "")), str(props.get("kbc_model", "")))
    refresh_wiki(vault)
    after = check(vault, expect)
    return [p for p in before if p not in after], after


def _mended_front_matter(props: dict) -> dict:
    mended = dict(props)
    for old in ("tag", "alias", "cssclass"):
        if old in mended:
            value = mended.pop(old)
            mended.setdefault(old + ("es" if old == "cssclass" else "s"), value)
    for key in LIST_PROPERTIES:
        if key in mended and not isinstance(mended[key], list):
            mended[key] = [mended[key]] if mended[key] else []
    if "tags" in mended:
        tags = (re.sub(r"[^\w/-]+", "-", str(t)).strip("-") for t in mended["tags"])
        mended["tags"] = [t for t in tags if t and TAG.match(t)]
    return mended
