"""The log: what each compile changed, newest first, in a page of bounded size. Each run's entry
names at most LOG_ITEMS pages and LOG_LINES errors and warnings (the rest counted: `kbc compile
--json` lists them all); log.md keeps the newest entries within the index token limit, and older
ones move to one page a month ("Log of 2026-12", in wiki/log/), sealed into numbered parts as it
fills. At 10,000 sources an unbounded log had grown to 5.6 MB, rewritten and indexed again by
every run."""
from __future__ import annotations

import datetime as dt
import glob
import re

from kbc.vault import Vault
from kbc.vault.bookkeeping import LOG_ARCHIVE
from kbc.vault.files import walk_files
from kbc.vault.indexes import estimate_tokens
from kbc.vault.pages import read_page, write_page

LOG_ITEMS = 50  # pages (or sources) an entry names before counting the rest
LOG_LINES = 50  # errors and warnings an entry quotes before counting the rest
ABOUT = "What each `kbc compile` changed, newest first."
_ENTRY = re.compile(r"^## (\d{4}-\d{2})", re.M)
_PART = re.compile(r" \(\d+\)$")  # a month's sealed part: "Log of 2026-12 (3)"
ARCHIVE_PAGE = 8  # index token limits a month's page holds before it is sealed as a part


def _named(items: list[str], shown, separator: str = ", ") -> str:
    listed = separator.join(shown(item) for item in items[:LOG_ITEMS])
    return listed + (f" … and {len(items) - LOG_ITEMS:,} more" if len(items) > LOG_ITEMS else "")


def _quoted(label: str, lines: list[str]) -> list[str]:
    out = [f"- {label}: {line}" for line in lines[:LOG_LINES]]
    if len(lines) > LOG_LINES:
        out.append(f"- {label}: … and {len(lines) - LOG_LINES:,} more (`kbc compile --json` lists them all)")
    return out


def entry_lines(report, totals) -> list[str]:
    r = report
    lines = [f"## {dt.datetime.now().replace(microsecond=0).isoformat()}", ""]
    for label, items in (("Sources added", r.new), ("Sources changed", r.changed),
                         ("Sources removed", r.removed), ("Sources renamed", r.renamed)):
        if items:
            lines.append(f"- {label}: " + _named(items, lambda p: f"`{p}`"))
    if r.written:
        lines.append("- Pages written: " + _named(sorted(set(r.written)), lambda n: f"[[{n}]]"))
    if r.merged:
        lines.append("- Concepts merged: " + _named(r.merged, str, "; "))
    if r.deleted_pages:
        lines.append("- Pages removed: " + _named(sorted(set(r.deleted_pages)), str))
    if r.kept_human:
        lines.append("- Kept human edits: " + _named(sorted(set(r.kept_human)), lambda n: f"[[{n}]]"))
    lines += _quoted("Error", r.errors) + _quoted("Warning", r.warnings)
    if r.stopped:
        lines.append(f"- Stopped: {r.stopped}")
    lines.append(f"- Tokens: {totals.prompt_tokens:,} prompt ({totals.cached_tokens:,} cached), "
                 f"{totals.completion_tokens:,} completion, {totals.requests} requests "
                 f"({totals.cache_hits} from the response cache)")
    return lines


def _entries(body: str) -> list[str]:
    """The entries of a log page's body, newest first, each from its `## ` heading."""
    body = body.split("\nOlder runs: ", 1)[0]
    starts = [m.start() for m in _ENTRY.finditer(body)]
    return [body[a:b].strip() + "\n" for a, b in zip(starts, starts[1:] + [len(body)])]


def _old_entries(path) -> list[str]:
    try:
        return _entries(read_page(path)[1]) if path.exists() else []
    except Exception:  # a log a person broke is rebuilt from this run on
        return []


def append_log(vault: Vault, report, totals) -> None:
    r = report
    if not (r.new or r.changed or r.removed or r.written or r.deleted_pages or r.errors or r.merged):
        return
    path = vault.wiki_dir / "log.md"
    entries = ["\n".join(entry_lines(report, totals)) + "\n"] + _old_entries(path)
    kept, size = [], 0
    for number, entry in enumerate(entries):
        size += estimate_tokens(entry)
        if number and size > vault.settings.index_max_tokens:
            _archive(vault, entries[number:])
            break
        kept.append(entry)
    folder = vault.wiki_dir / "log"
    older = sorted((p.stem for p in walk_files(folder, within=vault.root, suffix=".md") if not _PART.search(p.stem)),
                   reverse=True) if folder.is_dir() else []  # a month's page links its sealed parts
    see = ("\nOlder runs: " + ", ".join(f"[[{name}]]" for name in older) + "\n") if older else ""
    body = f"# Log\n\n{ABOUT}\n\n" + "\n".join(kept) + see
    write_page(vault, path, {"title": "Log", "kind": "log"}, body, "log")


def _archive(vault: Vault, entries: list[str]) -> None:
    """Entries that no longer fit log.md, put before the older ones of their month's page. A
    month's page past ARCHIVE_PAGE index limits is first sealed as the month's next part
    ("Log of 2026-12 (1)", the oldest), written once and never again: a run rewrites one
    page of bounded size (a month at 10,000 sources had grown to 5.7 MB, rewritten by every run)."""
    by_month: dict[str, list[str]] = {}
    for entry in entries:
        month = _ENTRY.match(entry)
        by_month.setdefault(month[1] if month else "undated", []).append(entry)
    for month, moved in by_month.items():
        name = f"{LOG_ARCHIVE}{month}"
        folder = vault.wiki_dir / "log"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.md"
        old = _old_entries(path)
        parts = len(list(folder.glob(f"{glob.escape(name)} (*).md")))
        if old and estimate_tokens("".join(moved + old)) > ARCHIVE_PAGE * vault.settings.index_max_tokens:
            parts += 1
            _write_month(vault, f"{name} ({parts})", month, old, parts - 1)
            old = []
        _write_month(vault, name, month, moved + old, parts)


def _write_month(vault: Vault, name: str, month: str, entries: list[str], parts: int) -> None:
    """One page of a month's runs; `parts`: the number of the month's part older than it (0: none)."""
    title = name if not _PART.search(name) else name.rsplit(" (", 1)[0]
    older = f" Older runs of the month: [[{title} ({parts})]]." if parts else ""
    body = f"# {name}\n\nRuns of {month}, newest first; the latest are in [[log]].{older}\n\n" + "\n".join(entries)
    write_page(vault, vault.wiki_dir / "log" / f"{name}.md", {"title": name, "kind": "log"}, body, "log")
