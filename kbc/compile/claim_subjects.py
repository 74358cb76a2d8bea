"""Which claims are about their own source's subject: "Trafilatura is distributed under the
Apache 2.0 license", from the note titled "Trafilatura: Discover Web Content", is about
Trafilatura, whatever words it shares with another concept (license, mode, benchmark). A real
model rejected 27 of 32 claim questions, most of this kind. Only the subject the title names
counts: a claim opening with any concept's name may still be about another ("Weight Decay
helped fight the overfitting" for Regularization, "A proposer asks a majority..." for the
Prepare Request), while a source's title subject is what its claims describe."""
from __future__ import annotations

import re

from kbc.compile.consolidate import _mentions, _words
from kbc.compile.rows import Claim, Concept

STEM = 5  # letters two words share to count as one ("removes" for "removal")
# A short opening phrase before the subject ("In the benchmark, htmldate 1.11.0 reached ..."),
# or a study reporting on it ("Bevendorff et al. (2023) found Trafilatura the best ...").
_OPENING = re.compile(r"^(?:(?:in|on|at|for|during|after|with)\b[^,]{0,60},\s*|[^,()]{0,60}\(\d{4}\)\s+\w+\s+)?"
                      r"(?:(?:the|an?)\s+)?")


class TitleSubjects:
    """Per source, the names of its concepts its title names (the source is about them)."""

    def __init__(self, concepts: dict[str, Concept], by_key: dict[str, list[Claim]], titles: dict[str, str],
                 paths: dict[str, set[str]] | None = None):
        """`paths`: source path -> the concepts with claims from it, for the sources asked
        about only (all of by_key's, if not given)."""
        if paths is None:
            paths = {}
            for key, own in by_key.items():
                for claim in own:
                    paths.setdefault(claim.source_path, set()).add(key)
        self.names: dict[str, list[str]] = {}  # source path -> its title subjects' names, casefolded
        for path, keys in paths.items():
            title = set(_words(titles.get(path, "")))
            if not title:
                continue
            for key in keys:
                concept = concepts.get(key)
                if concept is None:
                    continue
                names = [n for n in [concept.name, *concept.aliases] if len(n) >= 3]
                if any(set(_words(n)) and set(_words(n)) <= title for n in names):
                    self.names.setdefault(path, []).extend(n.casefold() for n in names)
        # One pattern per source, compiled once: its subjects at the opening, or as "X's" anywhere.
        self.patterns: dict[str, tuple[re.Pattern, re.Pattern]] = {}
        for path, names in self.names.items():
            either = "|".join(re.escape(n) for n in sorted(set(names), key=len, reverse=True))
            self.patterns[path] = (re.compile(rf"(?:{either})(?:['’]s|e?s)?(?![\w-])"),
                                   re.compile(rf"(?<![\w-])(?:{either})['’]s(?!\w)"))
        self._opens: dict[int, str] = {}  # id(claim) -> its text when about its title subject, else ""

    def elsewhere(self, claim: Claim, names: list[str], patterns) -> bool:
        """The claim opens with the name of its source's title subject (after an article or a
        short opening phrase; "Courlan's strict mode ..." too), or names the subject's "X's"
        anywhere, and does not name the concept asked (`names`, its names; `patterns`,
        consolidate.Profile.patterns): it is about that subject."""
        if claim.source_path not in self.patterns:
            return False
        if id(claim) not in self._opens:
            text = _OPENING.sub("", claim.text.strip().casefold(), count=1)
            opening, possessive = self.patterns[claim.source_path]
            self._opens[id(claim)] = text if opening.match(text) or possessive.search(text) else ""
        text = self._opens[id(claim)]
        return bool(text) and not _mentions(patterns, claim.text.casefold()) and not _loosely_named(names, text)


def _loosely_named(names: list[str], text: str) -> bool:
    """Every word of one of the names (two words or more) in the text, inflected or in another
    order: "removes boilerplate" names Boilerplate Removal."""
    stems = {w[:STEM] for w in re.findall(r"\w+", text)}
    for name in names:
        words = re.findall(r"\w+", name.casefold())
        if len(words) >= 2 and all(w[:STEM] in stems for w in words):
            return True
    return False
