"""Many terms as one regex in the shape of a trie: at each place in a text the regex engine
follows one branch per character instead of trying every term in turn (an alternation of
10,000 terms costs 10,000 tries per character; the trie about one). It matches what the
alternation of autolink.term_pattern's of the same terms matches, the longest term first."""
from __future__ import annotations

import re

_END = None  # a node's key for the endings of the terms that stop there


def term_ending(term: str) -> tuple[str, str]:
    """(stem, ending) as the linker spells a term: 'Policy' -> 'Polic' + y|ies, 'Log4' -> no plural."""
    if term.lower().endswith("y"):
        return term[:-1], "(?:y|ies)"
    return term, "" if term[-1:].isdigit() else "(?:s|es)?"


def _add(trie: dict, stem: str, ending: str) -> None:
    node = trie
    for char in stem:
        atom = r"\s+" if char == " " else re.escape(char)
        node = node.setdefault(atom, {})
    node.setdefault(_END, set()).add(ending)


def _emit(node: dict) -> str:
    # Continuations before endings (the longer term first); distinct atoms never both match.
    branches = [atom + _emit(child) for atom, child in sorted((k, v) for k, v in node.items() if k is not _END)]
    branches += sorted(node.get(_END, ()), key=lambda e: (-len(e), e))
    if len(branches) == 1:
        return branches[0]
    return "(?:" + "|".join(branches) + ")"


def trie_pattern(terms: list[str], is_acronym, plurals: bool = True) -> str:
    """Regex source for `terms` (no boundaries): acronyms (is_acronym) in capitals only, the
    rest in any case; `plurals`: with term_ending's endings (else each term as it is)."""
    folded: dict = {}
    exact: dict = {}
    for term in terms:
        stem, ending = term_ending(term) if plurals else (term, "")
        if is_acronym(term):
            _add(exact, stem, ending)
        else:
            _add(folded, stem.lower(), ending)
    parts = ([f"(?i:{_emit(folded)})"] if folded else []) + ([_emit(exact)] if exact else [])
    return parts[0] if len(parts) == 1 else "(?:" + "|".join(parts) + ")"
