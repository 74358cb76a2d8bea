"""Local images of a Markdown note, copied into the vault with the note.

Notes clipped from blogs use Markdown images, Obsidian embeds and inline HTML `<img>` tags, often
with site-root paths (`/assets/post/figure.png`) that mean "from the site's top folder": those
are looked up in the note's folder and each parent up to the folder being ingested, never out
of it. An image that cannot be found stays as it was in the note, and is reported.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from kbc.ingest.notes import Attachment
from kbc.vault.files import inside

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg"}

_IMAGE = re.compile(
    r"!\[(?P<alt>[^\]]*)\]\(\s*<?(?P<src>[^)\s>]+)>?(?:\s+[\"'][^)]*[\"'])?\s*\)"  # ![alt](src "title")
    r"|!\[\[(?P<embed>[^\]|#]+)(?:\|[^\]]*)?\]\]"  # ![[file.png|300]]
    r"|<img\b[^>]*?\bsrc\s*=\s*(?:\"(?P<html>[^\"]*)\"|'(?P<html1>[^']*)')[^>]*>",  # <img src="…">
    re.I)
_CODE = re.compile(r"^(```|~~~).*?^\1[^\n]*$|`[^`\n]+`", re.S | re.M)


@dataclass
class NoteImages:
    body: str
    attachments: list[Attachment] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # references no file was found for


def copy_note_images(body: str, note: Path, root: Path) -> NoteImages:
    """Replace each local image reference in `body` by an embed of its copy (outside code)."""
    found: dict[str, Attachment] = {}
    missing: list[str] = []

    def replace(match: re.Match) -> str:
        ref = match["src"] or match["embed"] or match["html"] or match["html1"] or ""
        if not ref or re.match(r"^[a-z][a-z0-9+.-]*:", ref, re.I) or ref.startswith("//"):
            return match.group(0)  # http(s), data: and other URLs are not local files
        path = _locate(ref, note, root)
        if path is None:
            if Path(_clean(ref)).suffix.lower() in IMAGE_EXTENSIONS:
                missing.append(ref)
            return match.group(0)
        attachment = Attachment(path.name, path.read_bytes())
        found[attachment.name] = attachment
        embed = f"![[kbc-attachment:{attachment.name}]]"
        # An <img> usually sits in an HTML block, where Markdown is not rendered: set it apart.
        return f"\n\n{embed}\n\n" if match.group(0).startswith("<") else embed

    pieces, last = [], 0
    for code in _CODE.finditer(body):
        pieces.append(_IMAGE.sub(replace, body[last:code.start()]))
        pieces.append(code.group(0))
        last = code.end()
    pieces.append(_IMAGE.sub(replace, body[last:]))
    text = re.sub(r"\n{3,}", "\n\n", "".join(pieces)) if found else body
    return NoteImages(text, list(found.values()), list(dict.fromkeys(missing)))


def _locate(ref: str, note: Path, root: Path) -> Path | None:
    """The image file `ref` names, inside `root`: relative to the note's folder; a site-root
    path in the note's folder or any parent up to `root`; a bare name beside the note."""
    clean = _clean(ref)
    if Path(clean).suffix.lower() not in IMAGE_EXTENSIONS:
        return None
    folder = note.absolute().parent
    if clean.startswith("/"):
        candidates = [base / clean.lstrip("/") for base in [folder, *folder.parents] if inside(base, root)]
    else:
        candidates = [folder / clean, folder / Path(clean).name]
    return next((c for c in candidates if c.is_file() and inside(c, root)), None)


def _clean(ref: str) -> str:
    return unquote(ref.split("#", 1)[0].split("?", 1)[0]).strip()
