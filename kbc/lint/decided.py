"""Pairs of concept pages compile's consolidation (or a person, in kbc-merges.toml) decided are
not one concept, among the few pages lint finds near-identical: at 10,000 sources the vault
holds over half a million decisions, and reading them all took longer than the rest of lint."""
from __future__ import annotations

from kbc.compile.identity import MERGES_FILE, load_overrides
from kbc.errors import KbcError
from kbc.vault.links import link_key

_CHUNK = 500  # ids per query: well under SQLite's bound on parameters


def decided_pairs(vault, among: set[str]) -> set[frozenset]:
    """frozensets of two page link keys, both in `among`, whose concepts consolidation decided
    about (any relation: a decision kept their members on two pages), or a person set apart."""
    out: set[frozenset] = set()
    if among:
        with vault.db_lock:
            pages = {key: link_key(page) for key, page in vault.db.execute("select key, page from concepts")
                     if page and link_key(page) in among}
            page_of = {member: pages[concept] for member, concept in
                       vault.db.execute("select id, concept_key from members") if concept in pages}
            ids = list(page_of)
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start:start + _CHUNK]
                # Both members of a pair in `among` are in page_of: asking by `a` (indexed) finds them all.
                rows = vault.db.execute(f"select a, b from decisions where a in ({','.join('?' * len(chunk))})", chunk)
                for a, b in rows:
                    if b in page_of and page_of[a] != page_of[b]:
                        out.add(frozenset((page_of[a], page_of[b])))
    try:
        overrides = load_overrides(vault.root / MERGES_FILE)
    except KbcError:
        return out
    for group in overrides.different:
        keys = [link_key(n) for n in group]
        out |= {frozenset((x, y)) for i, x in enumerate(keys) for y in keys[i + 1:]}
    return out
