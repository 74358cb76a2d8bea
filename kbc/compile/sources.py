"""The sources a compile reads: Markdown notes under raw/, hashed, titled and line-numbered."""
from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass, field
from urllib.parse import urlparse
from pathlib import Path

from kbc.vault.bibliography import bibliography
from kbc.vault import ATTACHMENTS, Vault
from kbc.vault import frontmatter
from kbc.vault.files import Skipped, code_digest, sha256_text, walk_paths
from kbc.vault.frontmatter import FrontMatterError, body_of, split


@dataclass
class Source:
    path: str  # relative to the vault, e.g. raw/paxos.md
    title: str
    body: str
    sha256: str
    kind: str = "note"  # what ingest made it from: web, pdf, note, dataset, ...
    # From the note's front matter: the extract prompt shows them, grounding accepts the names.
    authors: list[str] = field(default_factory=list)
    site: str = ""
    published: str = ""
    description: str = ""

    @property
    def note_name(self) -> str:
        return Path(self.path).stem

    @property
    def byline_names(self) -> list[str]:
        return [*self.authors, *([self.site] if self.site else [])]

    def about(self) -> str:
        """One line on who wrote it, where and when ("" when the front matter says nothing)."""
        parts = [f"by {', '.join(self.authors)}" if self.authors else "",
                 f"published by {self.site}" if self.site else "", f"on {self.published}" if self.published else ""]
        line = "; ".join(p for p in parts if p)
        if self.description and not _says(self.body, self.description):
            line += ("; " if line else "") + f"described as: {self.description}"
        return line


@dataclass
class Unreadable:
    """A note compile could not read: reported, and never taken for a deleted note."""
    path: str
    reason: str

    def line(self) -> str:
        return f"{self.path}: {self.reason}; its pages are kept until it can be read"


def scan_sources(vault: Vault) -> tuple[list[Source], list[Unreadable]]:
    """Every note in raw/ (attachments excluded), and the notes that could not be read.
    Each note is read and hashed; its front matter is parsed only when its content changed
    since the last scan (source_scan holds what it gave, by path and content hash)."""
    sources: list[Source] = []
    errors: list[Unreadable] = []
    if not vault.raw_dir.is_dir():
        return sources, errors
    skipped: list[Skipped] = []  # a link out of the vault is never read, nor taken for a deleted note
    with vault.db_lock:
        known = {row[0]: row[1:] for row in vault.db.conn.execute("select path, sha256, title, kind, byline from source_scan")}
    parsed: list[tuple] = []
    attachments = os.path.join(str(vault.raw_dir), ATTACHMENTS) + os.sep
    start = len(str(vault.root)) + 1
    plain = not os.path.islink(vault.raw_dir)
    found: list[tuple] = []  # (path, title, body, hash, kind, byline or its JSON): bylines parsed at once, below
    for full in walk_paths(vault.raw_dir, within=vault.root, suffix=".md", skipped=skipped):
        if full.startswith(attachments):
            continue
        # A path within the vault, no link on the way: its name relative to the vault without resolve()
        rel = full[start:].replace(os.sep, "/") if plain and not os.path.islink(full) else vault.rel(Path(full))
        try:
            with open(full, encoding="utf-8") as handle:
                text = handle.read()
            digest = f"{_PARSER}:{sha256_text(text)}"
            seen = known.get(rel)
            if seen is not None and seen[0] == digest:
                body, title, kind, about = body_of(text), seen[1], seen[2], seen[3]
            else:
                props, body = split(text)
                stem = full.rpartition(os.sep)[2][:-3]
                title = " ".join(str(props.get("title") or _first_heading(body) or stem).split())
                kind, about = str(props.get("kind") or "note"), byline(props)
                parsed.append((rel, digest, title, kind, json.dumps(about, ensure_ascii=False)))
        except UnicodeDecodeError:
            errors.append(Unreadable(vault.rel(Path(full)), "not UTF-8 text"))
            continue
        except FrontMatterError as exc:
            errors.append(Unreadable(vault.rel(Path(full)), str(exc)))
            continue
        except (OSError, ValueError) as exc:  # unreadable file; a YAML date like 2024-13-45
            errors.append(Unreadable(vault.rel(Path(full)), f"cannot be read ({exc})"))
            continue
        if not body.strip():
            errors.append(Unreadable(vault.rel(Path(full)), "empty note"))
            continue
        found.append((rel, title, body, digest.split(":", 1)[1], kind, about))
    remembered = iter(json.loads("[" + ",".join(row[5] for row in found if isinstance(row[5], str)) + "]"))
    sources = [Source(*row[:5], **(next(remembered) if isinstance(row[5], str) else row[5])) for row in found]
    _remember(vault, parsed, set(known) - {s.path for s in sources})
    errors += [Unreadable(link.path.relative_to(vault.root).as_posix(), link.reason) for link in skipped]
    return sources, errors


# The code that parses a note: what source_scan remembers holds only for it.
_PARSER = code_digest(sys.modules[__name__], frontmatter)


def _remember(vault: Vault, parsed: list[tuple], gone: set[str]) -> None:
    if not parsed and not gone:
        return
    with vault.db_lock, vault.db.conn:
        vault.db.conn.executemany("insert or replace into source_scan (path, sha256, title, kind, byline) "
                                  "values (?, ?, ?, ?, ?)", parsed)
        vault.db.conn.executemany("delete from source_scan where path = ?", [[path] for path in gone])


def _says(body: str, description: str) -> bool:
    """A description that repeats the note's opening (a web page's lede) adds nothing."""
    start = " ".join(description.split()[:10]).casefold()
    return start in " ".join(body.split()).casefold()


def byline(props: dict) -> dict:
    """Authors ("[[Jane Doe]]" links as ingest writes them), site (or the origin's host),
    published date and description, from a note's front matter."""
    authors = props.get("author") or props.get("authors") or []
    authors = [authors] if isinstance(authors, str) else authors if isinstance(authors, list) else []
    names = [" ".join(re.sub(r"^\[\[([^\]|]+)(?:\|[^\]]*)?\]\]$", r"\1", str(a).strip()).split()) for a in authors]
    origin = str(props.get("source") or "")
    host = urlparse(origin).hostname or "" if origin.startswith(("http://", "https://")) else ""
    site = " ".join(str(props.get("site") or props.get("publisher") or host.removeprefix("www.")).split())
    return {"authors": [n for n in dict.fromkeys(names) if n][:6], "site": site[:80],
            "published": str(props.get("published") or props.get("date") or "")[:10],
            "description": " ".join(str(props.get("description") or "").split())[:300]}


def _first_heading(body: str) -> str | None:
    match = re.search(r"^#\s+(.+)$", body, re.M)
    return match.group(1).strip() if match else None


# A block of its own lines, outside code fences: a post's CSS, not a note quoting a tag.
_MARKUP_BLOCK = re.compile(r"^[ \t]*<(style|script)\b[^>]*>.*?</\1\s*>[ \t]*$", re.S | re.I | re.M)
_FENCE = re.compile(r"^[ \t]*(```|~~~).*?^[ \t]*\1[ \t]*$", re.S | re.M)
_PAGE_MARK = re.compile(r"^\s*<!-- page \d+ -->\s*$")


def numbered_lines(body: str) -> list[str]:
    """Non-empty lines prefixed by their line number, so claims can cite line ranges. A model
    is not sent what carries nothing to cite: a post's <style> or <script> block, a PDF page's
    bare page number (the line before the next page's marker), or a paper's reference list."""
    fences = [m.span() for m in _FENCE.finditer(body)]

    def blank(block: re.Match) -> str:
        if any(start <= block.start() < end for start, end in fences):
            return block.group(0)
        return "\n" * block.group(0).count("\n")

    lines = _MARKUP_BLOCK.sub(blank, body).split("\n")
    text = [number for number, line in enumerate(lines) if line.strip()]
    marks = [*(_PAGE_MARK.match(lines[after]) for after in text[1:]), any(map(_PAGE_MARK.match, lines))]
    footers = {before for before, mark in zip(text, marks) if mark and lines[before].strip().isdigit()}
    references = bibliography(lines)
    return [f"{number + 1}| {lines[number]}" for number in text if number not in footers and number not in references]


def split_to_fit(lines: list[str], max_tokens: int, count_tokens) -> list[str]:
    """Cut a numbered source into parts under max_tokens at line (then paragraph) boundaries."""
    parts, current, size = [], [], 0
    for line in lines:
        cost = count_tokens(line) + 1
        if cost > max_tokens:  # one huge line: cut it by characters
            step = max(max_tokens * 3, 200)
            pieces = [line[i:i + step] for i in range(0, len(line), step)]
        else:
            pieces = [line]
        for piece in pieces:
            cost = count_tokens(piece) + 1
            if current and size + cost > max_tokens:
                parts.append("\n".join(current))
                current, size = [], 0
            current.append(piece)
            size += cost
    if current:
        parts.append("\n".join(current))
    return parts
