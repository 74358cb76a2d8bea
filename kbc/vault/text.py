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
