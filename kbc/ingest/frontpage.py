"""A paper's title and authors from its first page, as a reader finds them.

The title is the block of lines set in the largest type near the top (it may wrap over two or
three lines); the authors are the people named in the lines between it and the abstract, with
footnote marks, e-mail addresses and affiliations left out.
"""
from __future__ import annotations

import re
import statistics
from dataclasses import dataclass

_CAPITALS = set("ABCDEFGHIKLMNOPRSTUVWXYZ")  # no J or Q: their tails reach below the line
_SOFT_HYPHEN = "\ufffe"
MARKS = "∗*†‡§¶⁎⋆•"  # footnote marks beside an author's name
_MARK_RUN = re.compile(rf"[{re.escape(MARKS)}]+|(?<=[a-z])[0-9¹²³⁴⁵⁶⁷⁸⁹⁰,]+(?=\s|$)")
_PARTICLES = {"van", "von", "de", "der", "den", "da", "di", "du", "la", "le", "del", "della", "dos", "ter"}
_AFFILIATION = {
    "inc", "corp", "corporation", "company", "ltd", "llc", "gmbh", "ag", "asa", "university", "univ",
    "universität", "laboratory", "laboratories", "lab", "labs", "institute", "department", "dept",
    "research", "college", "school", "center", "centre", "science", "sciences", "computer",
    "technology", "systems", "group", "division", "faculty", "google", "microsoft", "ibm", "amazon",
    "xerox", "parc", "bell", "yahoo", "facebook", "intel", "digital", "hewlett-packard", "sun",
}
_STOP = re.compile(r"^(abstract|introduction|1\.?\s+introduction|summary|keywords|index terms)\b", re.I)
TITLE_TOLERANCE = 0.06  # cap heights of one title's lines differ by glyph overshoot (C, O, S)


@dataclass
class Line:
    size: float  # median cap height of its capitals, in points (0 when it has none)
    text: str


def first_page_lines(textpage, limit: int = 30) -> list[Line]:
    """The first lines of a page with the cap height of each. A wide gap inside a line (authors
    set side by side) becomes " | "; control characters (odd footnote-mark encodings) too."""
    text = textpage.get_text_range(0, min(textpage.count_chars(), 4000))
    lines, start = [], 0
    for end in [i for i, ch in enumerate(text) if ch == "\n"] + [len(text)]:
        boxes = {i: textpage.get_charbox(i) for i in range(start, end) if text[i].strip()}
        caps = [boxes[i][3] - boxes[i][1] for i in boxes if text[i] in _CAPITALS]
        # Only where pdfium put a space: broken PDFs place single glyphs anywhere.
        wide = {i for i in _wide_gaps(sorted(boxes), boxes) if text[i - 1] == " "}
        segment = "".join(" | " if ch < " " and ch not in "\t\r" else " | " + ch if i in wide else ch
                          for i, ch in enumerate(text[start:end], start))
        segment = " ".join(segment.split())
        if sum(ch.isalpha() for ch in segment) >= 3:
            lines.append(Line(round(statistics.median(caps) * 2) / 2 if caps else 0.0, segment))
        start = end + 1
        if len(lines) >= limit:
            break
    return lines


def _wide_gaps(indexes: list[int], boxes: dict) -> set[int]:
    """Characters that start far to the right of the one before: many times the line's usual
    advance from one character to the next (box sizes vary too much between PDFs to use)."""
    advances = [boxes[b][0] - boxes[a][0] for a, b in zip(indexes, indexes[1:])]
    if len(advances) < 6:
        return set()
    usual = statistics.median(a for a in advances if a > 0) if any(a > 0 for a in advances) else 0
    return {b for (a, b), step in zip(zip(indexes, indexes[1:]), advances) if usual and step > 5 * usual}


def title_block(lines: list[Line]) -> tuple[str, int]:
    """The title and the index of the line after it ("" when no line stands out)."""
    sized = [line for line in lines[:15] if line.size]
    if not sized:
        return "", 0
    biggest = max(line.size for line in sized)
    low = biggest - max(0.5, TITLE_TOLERANCE * biggest)
    top = next(i for i, line in enumerate(lines) if line.size == biggest)
    first = top
    while first > 0 and lines[first - 1].size >= low:
        first -= 1
    end = top + 1
    while end < len(lines) and lines[end].size >= low:
        end += 1
    title = " ".join(line.text for line in lines[first:end]).replace(_SOFT_HYPHEN, "").replace(" | ", " ")
    return " ".join(title.split()).rstrip(MARKS + " "), end


def authors_after(lines: list[Line]) -> list[str]:
    """The people named in the lines below the title, up to the abstract or the body text."""
    parts: list[str] = []
    for line in lines[:12]:
        if _STOP.match(line.text):
            break
        line_parts = split_people(line.text)
        named = [p for p in line_parts if is_person(p)]
        if not named and len(line.text.split()) >= 8 and "@" not in line.text:
            break  # body text: the author block is over
        if parts and line_parts and len(parts[-1].split()) == 1 and len(line_parts[0].split()) == 1:
            parts[-1] += " " + line_parts.pop(0)  # a name wrapped over two lines
        parts += line_parts
    return list(dict.fromkeys(p for p in parts if is_person(p)))


def split_people(text: str) -> list[str]:
    """One line of authors into candidate names: commas, "and", footnote marks and wide gaps
    separate them; e-mail addresses go."""
    text = re.sub(r"\S+@\S+", " | ", text)
    text = _MARK_RUN.sub(" | ", text)
    pieces = re.split(r"\s*(?:,|;|\||&|\band\b)\s*", text)
    return [" ".join(p.split()) for p in pieces if p.strip()]


def is_person(name: str) -> bool:
    """Two to five words, each a capitalised word, an initial or a particle (van, de), ending
    in a surname; nothing that reads like an affiliation, a place or a date."""
    words = name.split()
    if not 2 <= len(words) <= 5 or words[0].lower() in _PARTICLES:
        return False
    for word in words:
        bare = word.strip(".").lower()
        if bare in _AFFILIATION or any(ch.isdigit() for ch in word):
            return False
        initial = re.fullmatch(r"(?:[A-Z]\.?-?)+", word) is not None and len(word.replace(".", "")) <= 3
        capitalised = word[0].isupper() and any(ch.islower() for ch in word) and word.replace("-", "").replace("'", "").replace("’", "").isalpha()
        if not (initial or capitalised or word in _PARTICLES):
            return False
    last = words[-1]
    return last[0].isupper() and any(ch.islower() for ch in last)


def metadata_authors(author: str) -> list[str]:
    return [p for p in split_people(author) if is_person(p)]
