"""A converted source as a note in raw/: Web Clipper front matter, unique name, atomic write."""
from __future__ import annotations

import datetime as dt
import mimetypes
from dataclasses import dataclass, field
from pathlib import Path

from kbc.vault import Vault
from kbc.vault.files import atomic_write, page_name, sha256_bytes
from kbc.vault.frontmatter import render, split
from kbc.vault.links import link_key


@dataclass
class Attachment:
    name: str  # file name wanted in the attachments folder
    data: bytes

    def stored_name(self) -> str:
        """Content-addressed, so two sources' image.png never collide and re-ingest reuses it."""
        stem, dot, ext = self.name.rpartition(".")
        stem = page_name(stem or self.name, "image")[:60].replace(" ", "-")
        ext = ext if dot and len(ext) <= 5 else (mimetypes.guess_extension("image/png") or ".png")[1:]
        return f"{stem}-{sha256_bytes(self.data)[:10]}.{ext.lower()}"


@dataclass
class Note:
    title: str
    source: str
    kind: str
    body: str
    sha256: str  # of the original content
    author: list[str] = field(default_factory=list)
    published: str = ""
    description: str = ""
    tags: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    attachments: list[Attachment] = field(default_factory=list)

    def properties(self, created: str) -> dict:
        props = {
            "title": self.title,
            "source": self.source,
            "author": [f"[[{page_name(a)}]]" for a in self.author if a.strip()],
            "published": self.published,
            "created": created,
            "description": " ".join(self.description.split())[:300],
            "tags": sorted(set(self.tags) | {"clippings"}),
            "kind": self.kind,
            "sha256": self.sha256,
        }
        props.update(self.extra)
        return props


def existing_notes(vault: Vault) -> dict[str, Path]:
    """source -> note path, read from the notes' front matter (works in any clone)."""
    found = {}
    if not vault.raw_dir.is_dir():
        return found
    for path in vault.raw_dir.rglob("*.md"):
        try:
            props, _ = split(path.read_text(encoding="utf-8"))
        except Exception:
            continue
        if props.get("source"):
            found[str(props["source"])] = path
    return found


def store(vault: Vault, note: Note, known: dict[str, Path]) -> tuple[str, Path]:
    """Write the note (and its attachments) unless the same content is there already.
    Returns ('created' | 'updated' | 'unchanged', path)."""
    previous = known.get(note.source)
    created = dt.date.today().isoformat()
    if previous and previous.exists():
        props, _ = split(previous.read_text(encoding="utf-8"))
        if props.get("sha256") == note.sha256:
            return "unchanged", previous
        created = str(props.get("created") or created)
        path, status = previous, "updated"
    else:
        path, status = vault.raw_dir / f"{_free_name(vault, note.title)}.md", "created"
    written: list[Path] = []
    try:
        body = note.body
        for attachment in note.attachments:
            target = vault.attachments_dir / attachment.stored_name()
            if not target.exists():
                atomic_write(target, attachment.data)
                written.append(target)
            body = body.replace(f"kbc-attachment:{attachment.name}", target.name)
        atomic_write(path, render(note.properties(created), body.strip() + "\n"))
    except BaseException:
        for target in written:  # nothing half-ingested stays behind
            target.unlink(missing_ok=True)
        raise
    known[note.source] = path
    return status, path


def _free_name(vault: Vault, title: str) -> str:
    taken = {link_key(name) for name in vault.note_names()}
    base = page_name(title)
    name, number = base, 2
    while link_key(name) in taken:
        name = f"{base} ({number})"
        number += 1
    return name
