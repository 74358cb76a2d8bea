"""The sources a compile reads: Markdown notes under raw/, hashed, titled and line-numbered."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from kbc.vault import ATTACHMENTS, Vault
from kbc.vault.files import sha256_text
from kbc.vault.frontmatter import FrontMatterError, split


@dataclass
class Source:
    path: str  # relative to the vault, e.g. raw/paxos.md
    title: str
    body: str
    sha256: str
    kind: str = "note"  # what ingest made it from: web, pdf, note, dataset, ...

    @property
    def note_name(self) -> str:
        return Path(self.path).stem


@dataclass
class Unreadable:
    """A note compile could not read: reported, and never taken for a deleted note."""
    path: str
    reason: str

    def line(self) -> str:
        return f"{self.path}: {self.reason}; its pages are kept until it can be read"


def scan_sources(vault: Vault) -> tuple[list[Source], list[Unreadable]]:
    """Every note in raw/ (attachments excluded), and the notes that could not be read."""
    sources: list[Source] = []
    errors: list[Unreadable] = []
    if not vault.raw_dir.is_dir():
        return sources, errors
    for path in sorted(vault.raw_dir.rglob("*.md")):
        rel = path.relative_to(vault.raw_dir).parts
        if rel[0] == ATTACHMENTS or any(part.startswith(".") for part in rel):
            continue
        try:
            text = path.read_text(encoding="utf-8")
            props, body = split(text)
            title = " ".join(str(props.get("title") or _first_heading(body) or path.stem).split())
        except UnicodeDecodeError:
            errors.append(Unreadable(vault.rel(path), "not UTF-8 text"))
            continue
        except FrontMatterError as exc:
            errors.append(Unreadable(vault.rel(path), str(exc)))
            continue
        except (OSError, ValueError) as exc:  # unreadable file; a YAML date like 2024-13-45
            errors.append(Unreadable(vault.rel(path), f"cannot be read ({exc})"))
            continue
        if not body.strip():
            errors.append(Unreadable(vault.rel(path), "empty note"))
            continue
        sources.append(Source(vault.rel(path), title, body, sha256_text(text), str(props.get("kind") or "note")))
    return sources, errors


def _first_heading(body: str) -> str | None:
    match = re.search(r"^#\s+(.+)$", body, re.M)
    return match.group(1).strip() if match else None


def numbered_lines(body: str) -> list[str]:
    """Non-empty lines prefixed by their line number, so claims can cite line ranges."""
    return [f"{number}| {line}" for number, line in enumerate(body.split("\n"), start=1) if line.strip()]


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
