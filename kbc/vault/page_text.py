"""What a page's text says of itself, with no file or vault involved: its own body (without the
code-managed backlinks section), the hash kbc wrote into it, and so its state."""
from __future__ import annotations

import json
import re

from kbc.vault.files import sha256_text

BACKLINKS_START = "<!-- kbc:backlinks -->"
BACKLINKS_END = "<!-- /kbc:backlinks -->"


def backlinks_sections(body: str) -> list[tuple[int, int]]:
    """(start, end) of each backlinks section, its markers and one newline after included, as
    re.sub of START.*?END\\n? (re.S) finds them: str.find, not a lazy regex stepping through a
    section that lists a thousand pages character by character."""
    spans, at = [], 0
    while (start := body.find(BACKLINKS_START, at)) >= 0:
        end = body.find(BACKLINKS_END, start + len(BACKLINKS_START))
        if end < 0:  # no end after this start: none after a later one either
            break
        end += len(BACKLINKS_END)
        end += body.startswith("\n", end)
        spans.append((start, end))
        at = end
    return spans


def own_body(body: str) -> str:
    """The body without the code-managed backlinks section (which changes when other pages do)."""
    spans = backlinks_sections(body)
    if spans:
        bounds = [0, *(i for span in spans for i in span), len(body)]
        body = "".join(body[bounds[i]:bounds[i + 1]] for i in range(0, len(bounds), 2))
    return body.rstrip() + "\n"


def body_hash(body: str) -> str:
    """The hash pages carried before properties were hashed too; still read as kbc's own."""
    return sha256_text(own_body(body))


LIST_VALUED = ("tags", "aliases", "cssclasses")


def page_hash(props: dict, body: str) -> str:
    """Properties (tags, aliases, any a person may edit) and body, as read back from the page.
    Prefixed so it is never mistaken for an old body-only hash."""
    # `tags: x` and `tags: [x]` are one value to Obsidian (and lint --fix mends the first).
    shown = {k: [v] if k in LIST_VALUED and isinstance(v, str) else v
             for k, v in props.items() if k != "kbc_hash"}
    blob = json.dumps(shown, sort_keys=True, ensure_ascii=False, default=str)
    return "p" + sha256_text(blob + "\n" + own_body(body))[:63]


def is_manual(props: dict) -> bool:
    return str(props.get("kbc", "")).strip().lower() == "manual"


def state_of(props: dict, body: str) -> str:
    """page_state for a page already read."""
    if is_manual(props):
        return "manual"
    if "kbc_hash" not in props:
        return "foreign"
    stored = str(props["kbc_hash"])
    if stored.startswith("p"):
        return "ours" if stored == page_hash(props, body) else "edited"
    return "ours" if stored == body_hash(body) else "edited"  # a page from before v2 hashes
