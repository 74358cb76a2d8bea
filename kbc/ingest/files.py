"""Local sources that are not web pages or PDFs: notes, images, datasets, repositories."""
from __future__ import annotations

import csv
import io
import json
import re
import statistics
import struct
from collections import Counter
from pathlib import Path

from kbc.errors import KbcError
from kbc.ingest.noteimages import IMAGE_EXTENSIONS, NoteImages, copy_note_images
from kbc.ingest.notes import Attachment, Note
from kbc.vault.files import sha256_bytes, walk_files
from kbc.vault.frontmatter import FrontMatterError, split

DATA_EXTENSIONS = {".csv", ".tsv", ".json", ".jsonl"}
TEXT_EXTENSIONS = {".md", ".markdown", ".txt"}
MANIFESTS = ("pyproject.toml", "setup.py", "package.json", "Cargo.toml", "go.mod", "pom.xml",
             "Gemfile", "requirements.txt", "CMakeLists.txt", "Makefile")
TREE_LIMIT = 200
SAMPLE_ROWS = 5


def decode_text(data: bytes, source: str) -> str:
    if b"\x00" in data[:8192]:
        raise KbcError(f"{source}: binary data, not a text file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise KbcError(f"{source}: not UTF-8 text (bad byte at position {exc.start})") from None


def convert_text_note(data: bytes, path: Path, source: str, root: Path | None = None) -> tuple[Note, list[str]]:
    """A Markdown or text note kept as it is: front matter normalised, local images copied
    (only from inside `root`, the folder being ingested; none without one, as for a note
    fetched from the web). The warnings name each image that could not be found."""
    text = decode_text(data, source)
    try:
        props, body = split(text)
    except FrontMatterError as exc:
        raise KbcError(f"{source}: {exc}") from None
    if not body.strip():
        raise KbcError(f"{source}: empty note")
    images = copy_note_images(body, path, root) if root is not None else NoteImages(body)
    body = images.body
    title = str(props.pop("title", "") or _heading(body) or path.stem)
    origin = str(props.pop("source", "") or source)
    author = props.pop("author", []) or []
    author = [author] if isinstance(author, str) else author
    tags = props.pop("tags", []) or []
    tags = [tags] if isinstance(tags, str) else tags
    note = Note(
        title=title,
        source=origin,
        kind=str(props.pop("kind", "") or "note"),
        input=source,
        body=body,
        sha256=sha256_bytes(data),
        author=[re.sub(r"^\[\[|\]\]$", "", str(a)) for a in author],
        published=str(props.pop("published", "") or props.pop("date", "") or "")[:10],
        description=str(props.pop("description", "") or ""),
        tags=[str(t) for t in tags],
        attachments=images.attachments,
    )
    for key in ("created", "sha256", "ingested_from"):
        props.pop(key, None)
    note.extra = props
    return note, [f"{source}: image {ref} not found in {root}, left as a link" for ref in images.missing]


def _heading(body: str) -> str | None:
    match = re.search(r"^#\s+(.+)$", body, re.M)
    return match.group(1).strip() if match else None


def image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from the file header (PNG, GIF, JPEG, WebP, SVG attributes)."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return struct.unpack("<HH", data[6:10])
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        if data[12:16] == b"VP8X":
            return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
        if data[12:16] == b"VP8 ":
            w, h = struct.unpack("<HH", data[26:30])
            return w & 0x3FFF, h & 0x3FFF
    if data[:2] == b"\xff\xd8":
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                i += 1
                continue
            marker = data[i + 1]
            length = struct.unpack(">H", data[i + 2:i + 4])[0]
            if marker in (0xC0, 0xC1, 0xC2):
                h, w = struct.unpack(">HH", data[i + 5:i + 9])
                return w, h
            i += 2 + length
    head = data[:2048].decode("utf-8", errors="ignore")
    if "<svg" in head:
        w = re.search(r'<svg[^>]*\swidth="([\d.]+)', head)
        h = re.search(r'<svg[^>]*\sheight="([\d.]+)', head)
        if w and h:
            return int(float(w.group(1))), int(float(h.group(1)))
    return None


def convert_image(data: bytes, path: Path, source: str) -> Note:
    size = image_size(data)
    if size is None:
        raise KbcError(f"{source}: not a readable {path.suffix.lstrip('.').upper()} image")
    attachment = Attachment(path.name, data)
    title = path.stem.replace("_", " ").replace("-", " ").strip() or "Image"
    body = (f"# {title}\n\n![[kbc-attachment:{attachment.name}]]\n\n"
            f"- Size: {size[0]} × {size[1]} pixels, {len(data):,} bytes\n- Source: `{source}`\n")
    return Note(title=title, source=source, kind="image", body=body, sha256=sha256_bytes(data),
                extra={"width": size[0], "height": size[1]}, attachments=[attachment])


def _records(data: bytes, path: Path, source: str) -> tuple[list[str], list[dict]]:
    text = decode_text(data, source)
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".tsv"):
            reader = csv.DictReader(io.StringIO(text), delimiter="\t" if suffix == ".tsv" else ",")
            rows = list(reader)
            return list(reader.fieldnames or []), rows
        if suffix == ".jsonl":
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            loaded = json.loads(text)
            rows = loaded if isinstance(loaded, list) else next(
                (v for v in loaded.values() if isinstance(v, list)), [loaded]) if isinstance(loaded, dict) else [loaded]
    except (json.JSONDecodeError, csv.Error) as exc:
        raise KbcError(f"{source}: not valid {suffix.lstrip('.').upper()} ({exc})") from None
    except RecursionError:
        raise KbcError(f"{source}: {suffix.lstrip('.').upper()} nested too deeply to read") from None
    rows = [r if isinstance(r, dict) else {"value": r} for r in rows]
    columns = list(dict.fromkeys(k for r in rows for k in r))
    return columns, rows


def convert_dataset(data: bytes, path: Path, source: str) -> Note:
    columns, rows = _records(data, path, source)
    if not rows or not columns:
        raise KbcError(f"{source}: no rows")
    stats_lines = ["| column | type | non-empty | distinct | min | max | mean |", "|---|---|---|---|---|---|---|"]
    for column in columns:
        values = [r.get(column) for r in rows]
        present = [v for v in values if v not in (None, "")]
        numbers = []
        for v in present:
            try:
                numbers.append(float(v))
            except (TypeError, ValueError):
                pass
        numeric = present and len(numbers) == len(present)
        kind = "number" if numeric else "text"
        distinct = len(Counter(json.dumps(v, sort_keys=True, default=str) for v in present))
        low = f"{min(numbers):g}" if numeric else ""
        high = f"{max(numbers):g}" if numeric else ""
        mean = f"{statistics.fmean(numbers):.4g}" if numeric else ""
        stats_lines.append(f"| {_cell(column)} | {kind} | {len(present)} | {distinct} | {low} | {high} | {mean} |")
    sample = ["| " + " | ".join(_cell(c) for c in columns) + " |", "|" + "---|" * len(columns)]
    for row in rows[:SAMPLE_ROWS]:
        sample.append("| " + " | ".join(_cell(row.get(c, "")) for c in columns) + " |")
    title = path.stem.replace("_", " ").replace("-", " ")
    body = (f"# {title}\n\nDataset `{path.name}`: {len(rows):,} rows, {len(columns)} columns.\n\n"
            "## Columns\n\n" + "\n".join(stats_lines) + "\n\n## Sample rows\n\n" + "\n".join(sample) + "\n")
    return Note(title=title, source=source, kind="dataset", body=body, sha256=sha256_bytes(data),
                extra={"rows": len(rows), "columns": len(columns)})


def _cell(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return " ".join(text.split()).replace("|", "\\|")[:80]


def is_repository(folder: Path) -> bool:
    return (folder / ".git").exists()


def convert_repository(folder: Path, source: str) -> Note:
    # Links out of the repository (a README -> ~/.ssh/id_rsa) are never read.
    files = walk_files(folder, within=folder)
    tree = [p.relative_to(folder).as_posix() for p in files]
    languages = Counter()
    for p in files:
        if p.suffix:
            languages[p.suffix.lower()] += p.stat().st_size
    total = sum(languages.values()) or 1
    mix = "\n".join(f"- `{ext}`: {size / total:.0%}" for ext, size in languages.most_common(8))
    readme = next((p for p in files if p.parent == folder and p.name.lower().startswith("readme")), None)
    parts = [f"# {folder.name}\n\nRepository `{folder.name}`: {len(files):,} files."]
    if readme:
        parts.append("## README\n\n" + _demote(readme.read_text(encoding="utf-8", errors="replace")[:20000]))
    shown = tree[:TREE_LIMIT]
    more = f"\n… and {len(tree) - len(shown)} more files" if len(tree) > len(shown) else ""
    parts.append("## Files\n\n```\n" + "\n".join(shown) + more + "\n```")
    if mix:
        parts.append("## Languages (by bytes)\n\n" + mix)
    for name in MANIFESTS:
        manifest = folder / name
        if manifest in files:
            lines = manifest.read_text(encoding="utf-8", errors="replace").splitlines()[:60]
            parts.append(f"## {name}\n\n```\n" + "\n".join(lines) + "\n```")
    digest = sha256_bytes("\n".join(f"{t}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for t, p in zip(tree, files)).encode())
    return Note(title=folder.name, source=source, kind="repository", body="\n\n".join(parts),
                sha256=digest, extra={"files": len(files)})


def _demote(markdown: str) -> str:
    """README headings go one level down, under the note's own sections."""
    return re.sub(r"^(#{1,5})\s", lambda m: "#" + m.group(1) + " ", markdown, flags=re.M)
