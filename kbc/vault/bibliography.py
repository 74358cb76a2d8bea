"""What a note's bibliography is: entries that name works and say nothing of them.

One home for the rule: extraction is not sent a paper's trailing reference list, mention search
never takes an entry for a mention, retrieval never quotes one.
"""
from __future__ import annotations

import re

# "References", "## Bibliography", or a PDF's "REFERENCES [1] Adya, A., ..." with the first entry on its line.
REFERENCES_HEADING = re.compile(r"\s*(#+\s*)?(references|bibliography|works cited)\b", re.I)
_AUTHOR = re.compile(r"\b[A-Z][\w'’-]+,\s+(?:[A-Z]\.\s*){1,3}(?=,|\s+and\b|\s+AND\b|\s+\d{4})")
_NUMBERED_REFERENCE = re.compile(r"^\s*\[\d+\]\s+[A-Z][\w'’-]+,")
_ENTRY_START = re.compile(r"^\s*(?:\[\d+\]|\d+\.)\s+\S")
_FIRST_ENTRY = re.compile(r"^\s*(?:\[1\]|1\.)\s")
_BRACKETED = re.compile(r"^\s*\[\d+\]\s+\S")  # within a list: "[10] Jim Gray. Sort benchmark home page. http://..."
_BULLET = re.compile(r"^\s*[-*+]\s+\S")
_YEAR = re.compile(r"\b(1[89]|20)\d\d\b")
_PAGE_MARK = re.compile(r"^\s*(<!-- page \d+ -->|\d+)\s*$")


def is_reference(line: str) -> bool:
    """One bibliography entry (or a PDF line of several): "[4] DEAN, J., AND GHEMAWAT, S. ..."."""
    return bool(_NUMBERED_REFERENCE.match(line)) or len(_AUTHOR.findall(line)) >= 2


def _entry(line: str) -> bool:
    """An entry of a list: numbered, or a bullet naming an author ("-   Dean, J., ... (2004).")."""
    if is_reference(line):
        return True
    return bool(_YEAR.search(line)) and bool(_ENTRY_START.match(line) or _BULLET.match(line) and _AUTHOR.search(line))


def _continues(line: str) -> bool:
    """An entry's next line: a Markdown list item's indented wrap ("    through URL ordering.
    *Computer networks*, 30(1-7),"), or a PDF entry's second paragraph ("active search. In
    Proceedings of the 2004 USENIX ...")."""
    return line[:1] in (" ", "\t") or (len(line) < 300 and bool(_YEAR.search(line)))


def bibliography(lines: list[str]) -> range:
    """The lines of a text's reference list (empty if it has none): from a "References" heading
    in the text's second half, or a headless list's "[1]" entry there, through the entries that
    follow (blank lines, page marks and bare page numbers between them). It stops at the first
    line that is no entry (an appendix), so nothing of substance is ever taken for one."""
    for start in range(len(lines) // 2, len(lines)):
        line = lines[start]
        heading = REFERENCES_HEADING.match(line)
        rest = line[heading.end():].lstrip(" :.-") if heading else line
        if not (heading or _FIRST_ENTRY.match(line)):
            continue
        end, entries = start + 1, int(bool(rest.strip()) and _entry(rest))
        if rest.strip() and not entries:
            continue  # "References 11" in a table of contents, or prose that starts "[1] showed"
        for index in range(start + 1, len(lines)):
            line = lines[index]
            if _entry(line) or _BRACKETED.match(line):
                entries, end = entries + 1, index + 1
            elif line.strip() and _continues(line):
                end = index + 1
            elif line.strip() and not _PAGE_MARK.match(line):
                break
        if entries:
            return range(start, end)
    return range(0)
