"""AGENTS.md (and a CLAUDE.md pointing to it) at the vault root: how an agent works here.

Written by `kbc init` with a marker holding the hash of what kbc wrote. A rerun rewrites the
file only while it is still exactly that (so a newer kbc can update it); once a person edits
it, or if it was there before kbc, it is left alone.
"""
from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from kbc.vault.files import atomic_write, sha256_text

AGENTS_TEMPLATE = "pages/agents.md.j2"
CLAUDE_TEXT = ("# Instructions for Claude\n\nThis folder is a kbc vault. Read and follow "
               "[AGENTS.md](AGENTS.md): the vault's layout, page kinds, citations, what you may edit, "
               "and which kbc commands and MCP tools to use.\n")
_MARKER = re.compile(r"\n<!-- kbc: written by `kbc init` \(sha256 ([0-9a-f]{16})\)[^>]*-->\n?\Z")


def _templates_dir() -> Path:
    try:
        return Path(str(resources.files("kbc.templates")))
    except ModuleNotFoundError:  # a source checkout: templates/ sits beside kbc/
        return Path(__file__).resolve().parents[2] / "templates"


def agents_text() -> str:
    import jinja2  # only `kbc init` renders it; other commands start without jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(_templates_dir())),
                             keep_trailing_newline=True, autoescape=False)
    return env.get_template(AGENTS_TEMPLATE).render()


def _marked(text: str) -> str:
    return (f"{text}\n<!-- kbc: written by `kbc init` (sha256 {sha256_text(text)[:16]}); "
            "edit freely: once edited, kbc leaves this file alone -->\n")


def write_agent_files(root: Path) -> list[str]:
    """Write AGENTS.md and CLAUDE.md where absent or still as kbc wrote them. Returns the
    files created or updated."""
    written = []
    for name, text in (("AGENTS.md", agents_text()), ("CLAUDE.md", CLAUDE_TEXT)):
        path = Path(root) / name
        wanted = _marked(text)
        if path.exists():
            current = path.read_text(encoding="utf-8", errors="replace")
            match = _MARKER.search(current)
            untouched = match and sha256_text(current[:match.start()])[:16] == match.group(1)
            if current == wanted or not untouched:
                continue  # up to date, or a person's file: kept as it is
        atomic_write(path, wanted)
        written.append(name)
    return written
