"""Closed-world links: every [[link]] points at a page that exists, or is not a link."""
from __future__ import annotations

from functools import cached_property
from typing import Callable

from rapidfuzz import fuzz, process

from kbc.vault.links import link_key, rewrite_links

FUZZY_SURE = 90


class LinkResolver:
    def __init__(self, page_names: list[str], aliases: dict[str, str] | Callable[[], dict[str, str]] | None = None):
        """`aliases`: alias -> page name, or what gives them when first needed (a link that
        names no page: reading every page's aliases costs more than most runs' links)."""
        self.pages = {link_key(name): name for name in page_names}
        self._aliases = aliases
        self._choices: tuple[dict[str, str], list[str]] | None = None  # built at the first fuzzy lookup
        self._resolved: dict[str, str | None] = {}  # a wiki's pages link the same names over and over

    @cached_property
    def aliases(self) -> dict[str, str]:
        aliases = self._aliases() if callable(self._aliases) else self._aliases
        return {link_key(a): name for a, name in (aliases or {}).items()}

    def resolve(self, target: str) -> str | None:
        if target not in self._resolved:
            self._resolved[target] = self._resolve(target)
        return self._resolved[target]

    def _resolve(self, target: str) -> str | None:
        key = link_key(target)
        if not key:
            return None
        if key in self.pages:
            return self.pages[key]
        if key in self.aliases:
            return self.aliases[key]
        if len(key) < 4:
            return None
        if self._choices is None:
            merged = {**self.aliases, **self.pages}
            self._choices = merged, list(merged)
        choices, keys = self._choices
        best = process.extract(key, keys, scorer=fuzz.ratio, limit=2)
        if best and best[0][1] >= FUZZY_SURE and (len(best) == 1 or best[1][1] < best[0][1]
                                                   or choices[best[1][0]] == choices[best[0][0]]):
            return choices[best[0][0]]
        return None

    def fix(self, text: str) -> str:
        return rewrite_links(text, self.resolve)
