"""Sentence-safe cuts of prose for descriptions and index lines: never at "Fred B." or "et al."."""
from __future__ import annotations

import re

# Words that end in a full stop without ending the sentence.
ABBREVIATIONS = {
    "al", "e.g", "i.e", "etc", "cf", "vs", "fig", "figs", "eq", "eqs", "no", "nos", "vol", "pp", "p",
    "dr", "mr", "mrs", "ms", "prof", "st", "jr", "sr", "inc", "ltd", "co", "corp", "approx", "ca",
    "sec", "ch", "ed", "eds", "ref", "refs", "resp", "viz", "u.s", "ph.d", "jan", "feb", "mar", "apr",
    "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
}
_END = re.compile(r"[.!?](?:[\"')\]”’]*)(?=\s+|$)")


def sentences(text: str) -> list[str]:
    """Split prose into sentences, keeping abbreviations, initials and decimals inside."""
    text = " ".join(text.split())
    out, start = [], 0
    for match in _END.finditer(text):
        end = match.end()
        before = text[start:match.start() + 1]
        word = re.search(r"([\w.]+)\.$", before)
        token = word.group(1).lower() if word else ""
        if match.group(0)[0] == "." and (token in ABBREVIATIONS or re.fullmatch(r"[a-z]", token)
                                         or re.fullmatch(r"(?:[a-z]\.)+[a-z]", token)):
            continue  # "et al.", "Fred B.", "U.S."
        rest = text[end:].lstrip()
        if rest and rest[0].islower():
            continue  # "approx. five" — a sentence starts with a capital, digit or symbol
        out.append(text[start:end].strip())
        start = end
    if text[start:].strip():
        out.append(text[start:].strip())
    return out


def clip(text: str, max_chars: int) -> str:
    """Whole sentences that fit in max_chars; else the first sentence cut at a word, with '…'."""
    text = " ".join(text.split())
    if len(text) <= max_chars:
        return text
    kept = ""
    for sentence in sentences(text):
        if len(kept) + len(sentence) + 1 > max_chars:
            break
        kept = f"{kept} {sentence}".strip()
    if kept:
        return kept
    cut = text[:max_chars - 1]
    cut = cut[:cut.rfind(" ")] if " " in cut else cut
    return cut.rstrip(" ,;:-–—(") + "…"


def first_sentence(text: str, max_chars: int = 240) -> str:
    parts = sentences(text)
    return clip(parts[0] if parts else "", max_chars)


# Text as a PDF gives it: a page or column break falls anywhere, even mid-word or mid-sentence,
# with a page marker, a running head or a figure's text between the halves.
SOFT_HYPHEN = "\ufffe"  # where ingest/pdf.py found a word broken at a line's end
_CLOSED = re.compile(r"[.!?:;][\"'’”)\]]*$")  # a line that ends a sentence (or a list's lead-in)
_CAPTION = re.compile(r"(?:Figure|Fig\.|Table)\s*\d+\s*[:.]", re.I)
DEBRIS_CHARS, DEBRIS_LETTERS = 20, 0.4  # a line this long with under this share of letters is no prose
BREAK_LINES = 8  # what a page break puts between a sentence's halves, at most
PARAGRAPH_CHARS = 80  # a shorter line beside a break is a running head, a page number or a label


def left_open(line: str) -> bool:
    """Whether a line of prose stops inside a sentence (no closing punctuation)."""
    return not _CLOSED.search(line.rstrip())


def is_caption(line: str) -> bool:
    """"Figure 2: ...": it stands alone, stop or none."""
    return bool(_CAPTION.match(line.lstrip()))


def is_debris(line: str) -> bool:
    """A figure's or formula's text ("lease M2 ✲ ❈ ❈ ✄", "?A@B DV"): mostly no letters. A table row is none."""
    marks = [c for c in line if not c.isspace()]
    return len(marks) >= DEBRIS_CHARS and not line.lstrip().startswith("|") \
        and sum(c.isalpha() for c in marks) < DEBRIS_LETTERS * len(marks)


def sentence_begun_before(lines: list[str], index: int, max_chars: int) -> str:
    """For line `index` opening in lower case after a break: the start of its sentence, when the
    break cut it off the nearest earlier paragraph (that line's last sentence, at most max_chars
    from its end). Page markers, figure text and short lines (a running head, a page number)
    between are passed over; "" when the paragraph ends a sentence, is a heading, code, markup
    or a caption, or there is none within BREAK_LINES."""
    if not lines[index].lstrip()[:1].islower():
        return ""
    broke = False
    for before in range(index - 1, max(index - BREAK_LINES, 0) - 1, -1):
        line = lines[before].strip()
        if line.startswith(("#", "```", "~~~", "<")) and not line.startswith("<!--"):
            return ""
        if not line or line.startswith(("<!--", "![")) or is_debris(line) or len(line) < PARAGRAPH_CHARS:
            broke = True
            continue
        if not broke or is_caption(line) or not left_open(line):
            return ""
        last = sentences(line)[-1].rstrip(SOFT_HYPHEN)
        return last if len(last) <= max_chars else "…" + last[-max_chars:].split(" ", 1)[-1]
    return ""
