"""Line citations ("3-5, 9") read and written one way: sorted, without repeats, runs as ranges."""
from __future__ import annotations

import re

_PART = re.compile(r"(\d+)(?:\s*[-–]\s*(\d+))?")
MAX_RANGE = 200  # a wider "range" is a typo: only its first line counts


def cited_lines(lines: str) -> list[int]:
    """ "3-5, 9" -> [3, 4, 5, 9]."""
    out = []
    for first, last in _PART.findall(lines):
        a, b = int(first), int(last or first)
        out.extend(range(a, b + 1) if 0 <= b - a < MAX_RANGE else [a])
    return out


def line_ranges(citations: list[str]) -> str:
    """["21", "21", "23-24", "41", "25"] -> "21, 23-25, 41"."""
    numbers = sorted({n for c in citations for n in cited_lines(c)})
    runs: list[list[int]] = []
    for n in numbers:
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)
