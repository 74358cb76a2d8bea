"""The words of a page's body, for the page index's full-text table (page_words, FTS5): when
the auto-linker's terms change, only the pages holding a word that a changed term's match must
begin are read again (reading every page to look for the new terms was a second of each run
at 10,000 sources).

Sound by construction: a term is found with nothing word-like before it, so its first word
begins a word of the text, as does each word after a space or a sign inside it (a source's
title, found anywhere, is two words or more: its second begins a word). The four letters that
match an ASCII letter case-insensitively (İ ı ſ K) are folded to it on both sides; a term with
other non-ASCII letters in its token is looked for in every page."""
from __future__ import annotations

import re


# Prose pages whose mentions get linked: the only pages whose words are kept.
LINKED_KINDS = ("concept", "source-summary", "answer")
_WORD = re.compile(r"\w+")
_TOKEN = re.compile(r"[a-z0-9]+")  # what FTS5's unicode61 tokenizer keeps of an ASCII word
_FOLDED = "İıſ"  # the Kelvin sign K needs none: lower() gives k
_FOLD = str.maketrans({c: f for c, f in zip(_FOLDED, "iis")})


def words_of(body: str) -> str:
    """The distinct words of the page's body, folded (its backlinks too: the link memo's probe
    looks through the whole body)."""
    return " ".join(sorted(set(_WORD.findall(fold(body)))))


def fold(text: str) -> str:
    """Lowercased, with the letters that match an ASCII one case-insensitively folded to it."""
    # translate() looks up every character: only texts holding one of the four pay for it
    return (text.translate(_FOLD) if any(c in text for c in _FOLDED) else text).lower()


def fold_tokens(text: str) -> set[str]:
    """The distinct tokens of a text as probe_tokens' tokens are found in it: each begins
    where a word of the text, or a part of one after a sign, begins."""
    return set(_TOKEN.findall(fold(text)))


def probe_tokens(spelling: str, first_is_bounded: bool) -> tuple[str, ...] | None:
    """Tokens that every page where `spelling` can be found holds words beginning with (each
    word of it that begins a word of the text); None when there is none to trust (then every
    page is a candidate). For a term, pass its stem (term_trie.term_ending: 'Polic' of Policy,
    found as 'policies'); `first_is_bounded`: the match cannot begin inside a word (a term,
    not a title)."""
    text = spelling.translate(_FOLD).lower()
    tokens = set()
    for match in _WORD.finditer(text):
        if match.start() == 0 and not first_is_bounded:
            continue  # a title may be found inside a word: only its later words begin one
        word = match[0].lstrip("_")
        token = next(iter(_TOKEN.findall(word)), "")
        if token and word.startswith(token):  # else a word beginning with a non-ASCII letter: no token to trust
            tokens.add(token)
    return tuple(sorted(tokens)) or None
