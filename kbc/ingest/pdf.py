"""PDFs (pypdfium2): text as Markdown with page markers, two-column order, de-hyphenated."""
from __future__ import annotations

import re
import statistics

import pypdfium2 as pdfium

from kbc.errors import KbcError
from kbc.ingest.frontpage import authors_after, first_page_lines, metadata_authors, title_block
from kbc.ingest.notes import Note
from kbc.vault.files import sha256_bytes
from kbc.vault.text import SOFT_HYPHEN as _SOFT_HYPHEN
from kbc.vault.text import is_caption, left_open

_JUNK_AUTHORS = {"", "administrator", "admin", "user", "owner", "unknown", "author"}
# A section heading set in the text's own size, with a small gap under it: a line under this
# share of the page's usual line width, of at most HEADING_WORDS words.
HEADING_WIDTH, HEADING_WORDS = 0.6, 12


def looks_like_pdf(data: bytes) -> bool:
    return data[:1024].lstrip().startswith(b"%PDF")


def convert_pdf(data: bytes, source: str, fallback_title: str) -> Note:
    if not looks_like_pdf(data):
        raise KbcError(f"{source}: not a PDF file")
    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise KbcError(f"{source}: encrypted PDF (needs a password)") from None
        raise KbcError(f"{source}: corrupt or unreadable PDF ({exc})") from None
    try:
        pages = []
        for number in range(len(pdf)):
            text = page_text(pdf[number])
            pages.append(f"<!-- page {number + 1} -->\n\n" + (text or "*(no text on this page)*"))
        if not any(_words(p) for p in pages):
            raise KbcError(f"{source}: the PDF has no text layer (scanned images only)")
        meta = pdf.get_metadata_dict()
        title, first_page_authors = _title_and_authors(pdf, meta)
        title = title or fallback_title
        author = (meta.get("Author") or "").strip()
    finally:
        pdf.close()
    # The first page is what a reader sees; metadata authors are often a typist or a tool.
    authors = first_page_authors or ([] if author.lower() in _JUNK_AUTHORS else metadata_authors(author))
    body = f"# {title}\n\n" + "\n\n".join(pages)
    return Note(title=title, source=source, kind="pdf", body=body, sha256=sha256_bytes(data),
                author=authors, published=_date(meta.get("CreationDate", "")),
                extra={"pages": len(pages)})


def page_text(page) -> str:
    textpage = page.get_textpage()
    width = page.get_size()[0]
    rects = [textpage.get_rect(i) for i in range(textpage.count_rects())]
    if not rects:
        return ""
    pieces = [(rect, _clean(textpage.get_text_bounded(*rect))) for rect in _reading_order(rects, width)]
    return _paragraphs(_lines([(rect, text) for rect, text in pieces if text.strip()]))


def _lines(pieces):
    """pdfium cuts a line into several rects where spacing changes: glue them back, adding a
    space only where there is a visible gap."""
    lines = []
    for rect, text in pieces:
        if lines:
            last_rect, last_text = lines[-1]
            height = max(rect[3] - rect[1], 1)
            gap = rect[0] - last_rect[2]
            same_line = abs(rect[1] - last_rect[1]) < 0.5 * height and -height <= gap < 3 * height
            if same_line:
                joiner = "" if gap < 0.2 * height else " "
                if gap < 0:  # overlapping rects repeat the glyphs they share (ligatures)
                    text = text[_overlap(last_text, text):]
                merged = (last_rect[0], min(rect[1], last_rect[1]), rect[2], max(rect[3], last_rect[3]))
                lines[-1] = (merged, last_text + joiner + text)
                continue
        lines.append((rect, text))
    return lines


def _reading_order(rects, width):
    """Two columns are read left then right; full-width lines above them come first."""
    middle = width / 2
    left = [r for r in rects if r[2] <= middle + 6]
    right = [r for r in rects if r[0] >= middle - 6]
    span = [r for r in rects if r not in left and r not in right]
    if len(left) < 0.25 * len(rects) or len(right) < 0.25 * len(rects) or len(span) > 0.2 * len(rects):
        return _top_down(rects)
    columns_top = max(r[3] for r in left + right)
    above = [r for r in span if r[1] >= columns_top - 2]
    below = [r for r in span if r not in above]
    return _top_down(above) + _top_down(left) + _top_down(right) + _top_down(below)


def _top_down(rects):
    """Lines from the top of the page down, each line left to right. Content streams of some
    PDFs draw a line's pieces in any order, so geometry decides, not drawing order."""
    lines: list[list] = []
    for rect in sorted(rects, key=lambda r: -r[3]):  # PDF y grows upward
        if lines:
            line_bottom = min(r[1] for r in lines[-1])
            line_top = max(r[3] for r in lines[-1])
            overlap = min(line_top, rect[3]) - max(line_bottom, rect[1])
            if overlap > 0.5 * min(rect[3] - rect[1], line_top - line_bottom):
                lines[-1].append(rect)
                continue
        lines.append([rect])
    return [rect for line in lines for rect in sorted(line, key=lambda r: r[0])]


def _overlap(before: str, after: str) -> int:
    for size in range(min(4, len(before), len(after)), 0, -1):
        if before.endswith(after[:size]):
            return size
    return 0


def _paragraphs(lines) -> str:
    heights = [r[3] - r[1] for r, _ in lines]
    line_height = statistics.median(heights) if heights else 10
    line_width = statistics.median(r[2] - r[0] for r, _ in lines) if lines else 0
    out: list[str] = []
    current = ""
    previous = None
    for number, (rect, text) in enumerate(lines):
        gap = (previous[1] - rect[3]) if previous else 0
        new_paragraph = previous is None or gap > 0.9 * line_height or gap < -3 * line_height
        below = lines[number + 1] if number + 1 < len(lines) else None
        # a piece beside it on the same line (a formula, a table's next cell) is no heading's text
        following = below[1] if below and below[0][3] < rect[1] + 0.3 * (rect[3] - rect[1]) else ""
        heading = (not current or new_paragraph or not left_open(current)) \
            and _is_heading(text.strip(), rect[2] - rect[0], line_width, following)
        if (new_paragraph or heading) and current:
            out.append(current)
            current = ""
        current = _join(current, text.strip())
        if heading:  # "A too-real example" stays off the sentence under it
            out.append(current)
            current = ""
        previous = rect
    if current:
        out.append(current)
    return "\n\n".join(out)


def _is_heading(text: str, width: float, line_width: float, following: str) -> bool:
    """A short line that opens a paragraph, ends without punctuation and is followed by a
    sentence's start: "2.1 Rationale", "Performance aspects"."""
    words = text.split()
    return (0 < len(words) <= HEADING_WORDS and width < HEADING_WIDTH * line_width
            and (text[0].isupper() or text[0].isdigit()) and any(len(w) > 1 and w.isalpha() for w in words)
            and left_open(text) and not text.endswith((",", "-", _SOFT_HYPHEN)) and not is_caption(text)
            and (following.lstrip()[:1].isupper() or following.lstrip()[:1].isdigit()))


def _join(before: str, after: str) -> str:
    """De-hyphenate words broken across lines; otherwise join with a space."""
    if not before:
        return after
    if before.endswith(_SOFT_HYPHEN) or (before.endswith("-") and after[:1].islower()
                                         and before[-2:-1].isalpha()):
        return before[:-1] + after
    return before + " " + after


def _clean(text: str) -> str:
    # Bounded text marks a line-end hyphen with \x02 where the full-page text uses U+FFFE.
    text = text.replace("\x02", _SOFT_HYPHEN).replace("\r", " ").replace("\n", " ")
    text = re.sub(_SOFT_HYPHEN + r"\s*", _SOFT_HYPHEN, text)
    if _SOFT_HYPHEN in text[:-1]:
        text = text[:-1].replace(_SOFT_HYPHEN, "") + text[-1]
    return re.sub(r"[ \t]+", " ", text).strip()


def _title_and_authors(pdf, meta: dict) -> tuple[str, list[str]]:
    """The title in the largest type on page 1 (else the metadata title), and the authors named
    below it."""
    lines = first_page_lines(pdf[0].get_textpage())
    title, end = title_block(lines)
    if 8 <= len(title) <= 250:
        return title, authors_after(lines[end:])
    return (meta.get("Title") or "").strip(), []


def _date(pdf_date: str) -> str:
    match = re.match(r"D:(\d{4})(\d{2})(\d{2})", pdf_date or "")
    return f"{match.group(1)}-{match.group(2)}-{match.group(3)}" if match else ""


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", re.sub(r"<!--.*?-->|\*\(no text on this page\)\*", "", text))
