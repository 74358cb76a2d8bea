"""YAML front matter as Obsidian reads it: flat keys, lists for tags/aliases, quoted wikilinks."""
from __future__ import annotations

import datetime as dt

import yaml

from kbc.errors import KbcError


class FrontMatterError(KbcError):
    pass


def split(text: str) -> tuple[dict, str]:
    """Return (properties, body). Text without front matter has empty properties."""
    if not text.startswith("---"):
        return {}, text
    lines = text.split("\n")
    if lines[0].strip() != "---":
        return {}, text
    for index in range(1, len(lines)):
        if lines[index].strip() == "---":
            raw = "\n".join(lines[1:index])
            body = "\n".join(lines[index + 1:])
            try:
                props = yaml.safe_load(raw) or {}
            except yaml.YAMLError as exc:
                raise FrontMatterError(f"invalid front matter: {str(exc).splitlines()[0]}") from None
            if not isinstance(props, dict):
                raise FrontMatterError("front matter is not a set of key: value properties")
            return {str(k): _plain(v) for k, v in props.items()}, body.lstrip("\n")
    return {}, text


def _plain(value):
    """YAML parses dates into objects; Obsidian stores them as ISO strings."""
    if isinstance(value, dt.datetime):
        return value.replace(microsecond=0).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def render(props: dict, body: str) -> str:
    """Front matter in a fixed key order (as given) so rewrites of unchanged pages are byte-identical."""
    if not props:
        return body
    dumped = yaml.safe_dump(props, sort_keys=False, allow_unicode=True, width=10_000,
                            default_flow_style=False)
    return f"---\n{dumped}---\n\n{body.lstrip(chr(10))}"
