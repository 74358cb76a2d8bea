"""YAML front matter as Obsidian reads it: flat keys, lists for tags/aliases, quoted wikilinks."""
from __future__ import annotations

import datetime as dt
import functools
import re

import yaml

from kbc.errors import KbcError


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
MAX_FRONT_MATTER = 64 * 1024  # bytes of YAML; real front matter is a few hundred
MAX_ALIASES = 20  # YAML *aliases: a "billion laughs" block expands a few into gigabytes


class FrontMatterError(KbcError):
    pass


class _Loader(yaml.SafeLoader):
    """safe_load with a cap on aliases, and dates that do not exist (2026-13-45) kept as text."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self.aliases_seen = getattr(self, "aliases_seen", 0) + 1
            if self.aliases_seen > MAX_ALIASES:
                raise FrontMatterError(f"invalid front matter: more than {MAX_ALIASES} YAML aliases")
        return super().compose_node(parent, index)


def _timestamp(loader, node):
    """Dates that do not exist (2026-13-45) stay text."""
    try:
        return yaml.constructor.SafeConstructor.construct_yaml_timestamp(loader, node)
    except ValueError:
        return loader.construct_scalar(node)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)

# libyaml's loader is about 20x faster; pages are parsed many times a run. It cannot count
# aliases, so YAML that could hold them (an &anchor and a *reference) or that nests deeply
# takes the checked pure-Python loader above.
if hasattr(yaml, "CSafeLoader"):
    class _FastLoader(yaml.CSafeLoader):
        pass

    _FastLoader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)
else:  # PyYAML built without libyaml
    _FastLoader = _Loader


# libyaml's emitter writes the same bytes as PyYAML's (checked on 2,338 real pages and in
# tests/test_frontmatter_loader.py), five times faster.
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _loader_for(raw: str):
    if ("&" in raw and "*" in raw) or raw.count("[") + raw.count("{") > 64:
        return _Loader
    return _FastLoader


def load_yaml(raw: str):
    if len(raw.encode("utf-8")) > MAX_FRONT_MATTER:
        raise FrontMatterError(f"invalid front matter: over {MAX_FRONT_MATTER // 1024} KiB")
    try:
        return yaml.load(raw, Loader=_loader_for(raw))  # noqa: S506 - SafeLoader subclasses
    except yaml.YAMLError as exc:
        raise FrontMatterError(f"invalid front matter: {str(exc).splitlines()[0]}") from None
    except RecursionError:
        raise FrontMatterError("invalid front matter: nested too deeply") from None


def _front(text: str) -> tuple[str | None, str]:
    """(the front matter's YAML, or None when there is none; the body)."""
    if not text.startswith("---"):
        return None, text
    end = text.find("\n")
    if end < 0 or text[:end].strip() != "---":
        return None, text
    # Line by line through the front matter only: splitting the whole text was most of a read.
    start = at = end + 1
    while True:
        stop = text.find("\n", at)
        line = text[at:] if stop < 0 else text[at:stop]
        if line.strip() == "---":
            return (text[start:at - 1] if at > start else ""), ("" if stop < 0 else text[stop + 1:]).lstrip("\n")
        if stop < 0:
            return None, text
        at = stop + 1


def split(text: str) -> tuple[dict, str]:
    """Return (properties, body). Text without front matter has empty properties."""
    raw, body = _front(text)
    return ({}, body) if raw is None else (copied(_properties(raw)), body)


def body_of(text: str) -> str:
    """The body split() gives, without parsing the front matter."""
    return _front(text)[1]


@functools.lru_cache(maxsize=32768)
def _properties(raw: str) -> dict:
    """Parsed once per run for front matter read again (a page is read by several stages);
    callers get a copy of their own (copied)."""
    props = load_yaml(raw) or {}
    if not isinstance(props, dict):
        raise FrontMatterError("front matter is not a set of key: value properties")
    return {str(k): _plain(v) for k, v in props.items()}


def copied(value):
    """A copy of parsed properties (dicts and lists copied, down to the leaves)."""
    if isinstance(value, dict):
        return {k: copied(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copied(v) for v in value]
    return value


def _plain(value):
    """YAML parses dates into objects; Obsidian stores them as ISO strings."""
    if isinstance(value, dt.datetime):
        return value.replace(microsecond=0).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _as_date(value):
    if isinstance(value, str) and _DATE.fullmatch(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return value
    return value


def render(props: dict, body: str) -> str:
    """Front matter in a fixed key order (as given) so rewrites of unchanged pages are byte-identical."""
    if not props:
        return body
    # Dates go out bare (2026-11-30), as Obsidian's date properties expect, not quoted text.
    values = {key: _as_date(value) for key, value in props.items()}
    dumped = yaml.dump(values, Dumper=_DUMPER, sort_keys=False, allow_unicode=True, width=10_000,
                       default_flow_style=False)
    return f"---\n{dumped}---\n\n{body.lstrip(chr(10))}"
