"""Atomic file writes and vault-safe page names."""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path

# Obsidian link breakers plus characters that are not portable in file names.
_FORBIDDEN = re.compile(r'[#|^:%\[\]<>"/\\?*\x00-\x1f\x7f]')
MAX_NAME_CHARS = 245  # what Obsidian Web Clipper cuts file names to
# File systems count bytes (255 a name); room is left for " (proposed).md" and " (12).md".
MAX_NAME_BYTES = 200
# A file changed this recently may change again within its mtime's clock tick and keep its
# stat: what is remembered by stat never vouches for it (racy git's rule).
SETTLED_NS = 3_000_000_000


def _temp_copy(path: Path, content: str | bytes) -> str:
    """The content, synced, in a temp file beside `path`. A short temp name: a page name near
    the file-name limit still gets its temp file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode("utf-8") if isinstance(content, str) else content
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".kbc-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tmp


def atomic_write(path: Path, content: str | bytes) -> None:
    """Write to a temp file in the same folder, then rename: readers never see half a file."""
    path = Path(path)
    tmp = _temp_copy(path, content)
    try:
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def exclusive_write(path: Path, content: str | bytes) -> bool:
    """Like atomic_write, but only if `path` does not exist yet (a hard link is atomic and
    exclusive). Returns False, writing nothing, if it does."""
    path = Path(path)
    tmp = _temp_copy(path, content)
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    except OSError:  # a file system without hard links: exclusive, if not atomic
        try:
            with open(path, "xb") as handle:
                handle.write(Path(tmp).read_bytes())
            return True
        except FileExistsError:
            return False
    finally:
        Path(tmp).unlink(missing_ok=True)


def page_name(title: str, fallback: str = "Untitled") -> str:
    """A page name that cannot break a wikilink, following the Web Clipper's file-name rules."""
    name = unicodedata.normalize("NFC", title)
    name = _FORBIDDEN.sub(" ", name)
    name = re.sub(r"\s+", " ", name).strip(" .")[:MAX_NAME_CHARS]
    while len(name.encode("utf-8")) > MAX_NAME_BYTES:
        name = name[:-1]
    return name.rstrip(" .") or fallback


def inside(path: Path, root: Path) -> bool:
    """Does `path`, all links followed, lie within `root`?"""
    try:
        Path(path).resolve().relative_to(Path(root).resolve())
        return True
    except (ValueError, OSError, RuntimeError):  # RuntimeError: a symlink loop (Python 3.11)
        return False


@dataclass(frozen=True)
class Skipped:
    """A link walk_files did not follow, and why."""
    path: Path
    reason: str


def walk_files(folder: Path, within: Path | None = None, suffix: str = "",
               skipped: list[Skipped] | None = None) -> list[Path]:
    """Files under `folder` (sorted; hidden names skipped). Symlinked folders are not entered
    and a symlinked file counts only if it resolves inside `within` (default: `folder`), so a
    link to /etc/passwd or a loop is never read. Skipped links are named in `skipped`.
    One scandir per folder: its entries know their type, so no file is stat'ed again."""
    return sorted(map(Path, _walk(folder, within, suffix, skipped)), key=lambda p: p.parts)


def walk_paths(folder: Path, within: Path | None = None, suffix: str = "",
               skipped: list[Skipped] | None = None) -> list[str]:
    """walk_files' files as path strings, in its order, with no Path made per file."""
    return [os.sep.join(parts) for parts in sorted(path.split(os.sep) for path in _walk(folder, within, suffix, skipped))]


def walk_stems(folder: Path, within: Path | None = None, extension: str = ".md") -> list[str]:
    """The names without `extension` of walk_files' files ending in it, in its order, with no
    Path made per file: all a list of page names needs (a third of a second at 32,000 files)."""
    assert extension.startswith("."), extension  # a name less its extension is its Path.stem
    found = sorted(path.split(os.sep) for path in _walk(folder, within, extension, None))  # as by Path.parts
    return [parts[-1][:-len(extension)] for parts in found]


def _walk(folder: Path, within: Path | None, suffix: str, skipped: list[Skipped] | None) -> list[str]:
    """The paths of walk_files' files, in the order found."""
    folder = Path(folder)
    within = Path(within or folder)
    found = []
    pending = [str(folder)]
    while pending:
        top = pending.pop()
        try:
            with os.scandir(top) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError:  # os.walk too skips a folder it cannot list
            continue
        folders = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                is_folder = entry.is_dir()  # a link to a folder is a folder here, as in os.walk
            except OSError:
                is_folder = False
            if is_folder:
                folders.append(entry)
                continue
            if not entry.name.endswith(suffix):
                continue
            if entry.is_symlink() and not (inside(Path(entry.path), within) and Path(entry.path).is_file()):
                if skipped is not None:
                    skipped.append(Skipped(Path(entry.path), f"a link to outside {within} (or a broken link); not read"))
                continue
            found.append(entry.path)
        for entry in folders:
            if entry.is_symlink() and skipped is not None:
                skipped.append(Skipped(Path(entry.path), "a linked folder; not followed"))
        pending += reversed([entry.path for entry in folders if not entry.is_symlink()])  # top-down
    return found


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_text(text: str) -> str:
    return sha256_bytes(text.encode("utf-8"))


def code_digest(*modules) -> str:
    """The modules' source, hashed: a cache of what code computed holds only for that code."""
    return hashlib.sha256(b"".join(Path(module.__file__).read_bytes() for module in modules)).hexdigest()[:12]


TEMP_PATTERN = ".kbc-*.tmp"


def sweep_temp_files(root: Path, older_than: float = 60.0) -> int:
    """Remove temp files a killed writer left (kill -9 skips every clean-up). Called by the
    holder of the vault lock, so no live writer owns them; the age check spares a library
    user writing without the lock. Returns how many were removed."""
    import fnmatch
    import time

    removed, cutoff = 0, time.time() - older_than
    for folder in ("raw", "wiki"):
        for top, dirs, files in os.walk(Path(root) / folder, followlinks=False):
            # By name: a Path made per file was a third of a no-change compile at N=10,000.
            for name in fnmatch.filter(files, TEMP_PATTERN):
                path = Path(top) / name
                try:
                    if path.lstat().st_mtime < cutoff:
                        path.unlink()
                        removed += 1
                except OSError:
                    continue
    return removed
