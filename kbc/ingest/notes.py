"""A converted source as a note in raw/: Web Clipper front matter, unique name, atomic write."""
from __future__ import annotations

import datetime as dt
import mimetypes
from dataclasses import dataclass, field
from pathlib import Path

from kbc.vault import Vault
from kbc.vault.files import atomic_write, exclusive_write, page_name, sha256_bytes
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
    # What was ingested (a path or URL) when it differs from `source`, the origin a note's own
    # front matter names: two inputs naming one origin are two notes, never one overwriting.
    input: str = ""

    @property
    def key(self) -> str:
        return self.input or self.source

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
        if self.input and self.input != self.source:
            props["ingested_from"] = self.input
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
        key = props.get("ingested_from") or props.get("source")
        if key:
            found[str(key)] = path
    return found


def store(vault: Vault, note: Note, known: dict[str, Path]) -> tuple[str, Path]:
    """Write the note (and its attachments) unless the same content is there already.
    Returns ('created' | 'updated' | 'unchanged', path)."""
    previous = known.get(note.key)
    created = dt.date.today().isoformat()
    if previous and previous.exists():
        props, _ = split(previous.read_text(encoding="utf-8"))
        if props.get("sha256") == note.sha256:
            return "unchanged", previous
        created = str(props.get("created") or created)
        path, status = previous, "updated"
    else:
        path, status = None, "created"
    written: list[Path] = []
    try:
        body = note.body
        for attachment in note.attachments:
            target = vault.attachments_dir / attachment.stored_name()
            if not target.exists():
                atomic_write(target, attachment.data)
                written.append(target)
            body = body.replace(f"kbc-attachment:{attachment.name}", target.name)
        text = render(note.properties(created), body.strip() + "\n")
        if path is None:
            path = _create(vault, note.title, text)
        else:
            atomic_write(path, text)
    except BaseException:
        for target in written:  # nothing half-ingested stays behind
            target.unlink(missing_ok=True)
        raise
    known[note.key] = path
    return status, path


def _create(vault: Vault, title: str, text: str) -> Path:
    """A new note under a free name, created exclusively: of two ingests of same-titled notes
    at once, neither replaces the other (the second takes the next free name)."""
    taken = {link_key(name) for name in vault.note_names()}
    base = page_name(title)
    name, number = base, 2
    while True:
        if link_key(name) not in taken:
            path = vault.raw_dir / f"{name}.md"
            if exclusive_write(path, text):
                return path
        name = f"{base} ({number})"
        number += 1
