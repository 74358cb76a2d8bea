"""Atomic file writes and vault-safe page names."""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
import unicodedata
from pathlib import Path

# Obsidian link breakers plus characters that are not portable in file names.
_FORBIDDEN = re.compile(r'[#|^:%\[\]<>"/\\?*\x00-\x1f\x7f]')
MAX_NAME_CHARS = 245  # what Obsidian Web Clipper cuts file names to


def atomic_write(path: Path, content: str | bytes) -> None:
    """Write to a temp file in the same folder, then rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode("utf-8") if isinstance(content, str) else content
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def page_name(title: str, fallback: str = "Untitled") -> str:
    """A page name that cannot break a wikilink, following the Web Clipper's file-name rules."""
    name = unicodedata.normalize("NFC", title)
    name = _FORBIDDEN.sub(" ", name)
    name = re.sub(r"\s+", " ", name).strip(" .")
    return name[:MAX_NAME_CHARS].rstrip(" .") or fallback


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_text(text: str) -> str:
    return sha256_bytes(text.encode("utf-8"))
