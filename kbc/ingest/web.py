"""Web pages: the article as Markdown (trafilatura), its images downloaded next to the note."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Callable
from urllib.parse import unquote, urljoin, urlparse

import trafilatura

from kbc.errors import KbcError
from kbc.ingest.notes import Attachment, Note
from kbc.vault.files import sha256_bytes

_IMAGE = re.compile(r"!\[(?P<alt>[^\]]*)\]\((?P<src>[^)\s]+)(?:\s+\"[^\"]*\")?\)")
_HTML_SIGNS = re.compile(rb"<\s*(html|head|body|p|div|article|title|h1|!doctype)\b", re.I)
IMAGE_TYPES = {"png", "jpg", "jpeg", "gif", "webp", "svg"}


def looks_like_html(data: bytes) -> bool:
    return bool(_HTML_SIGNS.search(data[:65536]))


def decode_html(data: bytes) -> str:
    """Honour a declared charset, fall back to UTF-8, then Latin-1 (which never fails)."""
    head = data[:4096].decode("ascii", errors="ignore")
    match = re.search(r"charset=[\"']?([\w-]+)", head, re.I)
    for encoding in ([match.group(1)] if match else []) + ["utf-8"]:
        try:
            return data.decode(encoding)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("latin-1")


# The article as Markdown with its links, images and tables, precision over recall.
TRAFILATURA_OPTIONS = dict(output_format="markdown", include_images=True, include_links=True,
                           include_tables=True, include_comments=False, favor_precision=True)


def convert_html(data: bytes, source: str, base_url: str | None,
                 get_image: Callable[[str], tuple[str, bytes] | None]) -> tuple[Note, list[str]]:
    """The article of an HTML page as a note. `get_image(url)` returns (file name, bytes) or
    None; images that cannot be had keep their remote link and are reported."""
    if not looks_like_html(data):
        raise KbcError(f"{source}: not an HTML page")
    html = decode_html(data)
    doc = trafilatura.extract_with_metadata(html, url=base_url, **TRAFILATURA_OPTIONS)
    if doc is None or not (doc.text or "").strip():
        raise KbcError(f"{source}: no article text found in the page")
    warnings: list[str] = []
    attachments: dict[str, Attachment] = {}

    def localise(match: re.Match) -> str:
        src = match["src"]
        absolute = urljoin(base_url, src) if base_url else src
        got = get_image(absolute)
        if got is None:
            warnings.append(f"{source}: image not downloaded, left as a link: {absolute}")
            return f"![{match['alt']}]({absolute})"
        name, blob = got
        attachment = Attachment(name, blob)
        attachments[attachment.name] = attachment
        return f"![[kbc-attachment:{attachment.name}]]"

    # With metadata on, trafilatura puts its own YAML block on top of the Markdown.
    text = re.sub(r"\A---\n.*?\n---\n", "", doc.text, count=1, flags=re.S)
    body = _IMAGE.sub(localise, text)
    title = (doc.title or "").strip() or _title_from(source)
    note = Note(
        title=title,
        source=source,
        kind="web",
        body=f"# {title}\n\n{_without_promotions(_without_title_heading(body, title))}",
        sha256=sha256_bytes(data),
        author=[a.strip() for a in re.split(r"[;,]| and ", doc.author or "") if a.strip()],
        published=(doc.date or "")[:10],
        description=doc.description or "",
        tags=_tags(doc.tags or []),
        extra={"site": doc.sitename} if doc.sitename else {},
        attachments=list(attachments.values()),
    )
    return note, warnings


def _words(text: str) -> str:
    return re.sub(r"\W+", " ", text).strip().casefold()


def _without_title_heading(body: str, title: str, near: int = 3) -> str:
    """The article's own heading of its title, among its first blocks (after a section label,
    a byline), goes: the note opens with that title already, and a model would read it twice."""
    blocks = body.split("\n\n")
    for i, block in enumerate(blocks[:near]):
        heading = re.fullmatch(r"#{1,6} +(.+)", block.strip())
        if heading and _words(heading[1]) == _words(title):
            return "\n\n".join(blocks[:i] + blocks[i + 1:])
    return body


# A one-line paragraph pointing to another article of the site ("**Read more:** [..](..)",
# "\\[Related: ..\\]"): the page's furniture, not its text.
_PROMOTION = re.compile(r"[*_\\\[\s]*(related|read more|see also|also read|more from|recommended)\b[*_\s]*:", re.I)


def _without_promotions(body: str) -> str:
    blocks = body.split("\n\n")  # joined again, the same text when none goes
    return "\n\n".join(b for b in blocks if "\n" in b.strip() or not _PROMOTION.match(b))


def image_name(url: str, content_type: str = "") -> str:
    name = Path(unquote(urlparse(url).path)).name or "image"
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext not in IMAGE_TYPES:
        guessed = content_type.split("/")[-1].replace("jpeg", "jpg").replace("svg+xml", "svg")
        name = f"{name}.{guessed if guessed in IMAGE_TYPES else 'png'}"
    return name


def _title_from(source: str) -> str:
    parsed = urlparse(source)
    stem = Path(unquote(parsed.path)).stem
    return stem.replace("-", " ").replace("_", " ").strip() or parsed.netloc or "Untitled"


def _tags(raw: list[str]) -> list[str]:
    """Obsidian tags: letters, digits, _ - /, no spaces, not all digits."""
    tags = []
    for item in raw:
        for tag in str(item).split(","):
            tag = re.sub(r"[^\w/-]+", "-", tag.strip().lower()).strip("-")
            if tag and not tag.isdigit() and tag not in tags:
                tags.append(tag)
    return tags[:20]
