"""The vault's page names as grounding reads them (grounding.NameVocabulary), kept between runs
in .kbc/page_vocabulary.json: the names it was counted from and how many of them have each
feature (word, stem, acronym, initials, key). A run counts only the names added and removed
since: folding and stemming the 32,000 names of a 10,000-source vault was most of writing nine
articles. Keyed by the grounding code and the stemmer, so a change to either counts afresh."""
from __future__ import annotations

import json

from kbc.compile import grounding
from kbc.compile.grounding import STEMMER_VERSION, NameVocabulary, name_counts
from kbc.vault.files import atomic_write, code_digest

VOCABULARY_FILE = "page_vocabulary.json"


def page_vocabulary(vault, names) -> NameVocabulary:
    """The vocabulary of `names` (every page name of the vault); saved for the next run when
    the names changed."""
    names = list(dict.fromkeys(names))
    version = f"{code_digest(grounding)} {STEMMER_VERSION}"
    path = vault.state_dir / VOCABULARY_FILE
    kept, counts = _load(path, version)
    if counts is None:
        counts = name_counts(names)
    else:
        wanted = set(names)
        if wanted == kept:
            return NameVocabulary.counted(counts)
        name_counts([n for n in names if n not in kept], counts)
        name_counts([n for n in kept if n not in wanted], counts, sign=-1)
    for kind in counts.values():  # a feature no name has any more is dropped
        for feature in [f for f, n in kind.items() if n <= 0]:
            del kind[feature]
    vault.state_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps({"version": version, "names": names, "counts": counts}, ensure_ascii=False))
    return NameVocabulary.counted(counts)


def _load(path, version: str) -> tuple[set[str], dict | None]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set(), None
    if not isinstance(data, dict) or data.get("version") != version or not isinstance(data.get("names"), list):
        return set(), None  # another version's: counted afresh
    counts = data.get("counts")
    if not isinstance(counts, dict) or not all(isinstance(kind, dict) and all(type(n) is int for n in kind.values())
                                               for kind in counts.values()):
        return set(), None
    return set(data["names"]), counts
