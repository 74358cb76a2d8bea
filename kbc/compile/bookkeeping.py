"""Pages and records code makes around the model's answers: source summaries, redirects for
merged or renamed concepts, the report, and which pages are stale (the log: log_page)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from kbc.compile.plan import is_stale
from kbc.compile.sources import Source
from kbc.vault import Vault
from kbc.vault.links import find_links
from kbc.vault.page_index import read_with_body
from kbc.vault.pages import page_state, registered_pages, today, write_page
from kbc.vault.text import first_sentence


@dataclass
class CompileReport:
    new: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    renamed: list[str] = field(default_factory=list)
    unchanged: int = 0
    written: list[str] = field(default_factory=list)
    deleted_pages: list[str] = field(default_factory=list)
    kept_human: list[str] = field(default_factory=list)
    proposals: list[str] = field(default_factory=list)
    merged: list[str] = field(default_factory=list)  # "A + B -> C"
    stale: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    stopped: str = ""
    estimate: dict | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


def write_summary(vault: Vault, source: Source, title: str, path: Path, extraction: str,
                  concepts: list[tuple[str, str]], version: str, model: str, report: CompileReport,
                  extracted: bool) -> bool:
    """`concepts`: (page name, definition) of the concepts the source yielded; `extraction`:
    its stored answer (JSON), read only if the page is written; `title`: the title if the answer
    gives none. A source not extracted this run is rewritten only when its concepts' pages
    changed (merged, renamed). True if the page was left as it is without a write (decided
    by the page and `concepts`' pages alone)."""
    state, _, old_body = read_state(vault, path)
    if state in ("edited", "manual", "foreign"):
        if extracted:
            report.kept_human.append(path.stem)
        return True
    pages = list(dict.fromkeys(page for page, _ in concepts))
    if not extracted and state == "ours":
        listed = old_body.split("\n## Concepts\n", 1)[-1].split("\n## ", 1)[0]
        if [link.target for link in find_links(listed)] == pages:
            return True
    data = json.loads(extraction)
    title = data.get("title") or title
    definitions = dict(reversed(concepts))
    lines = [f"- [[{page}]]: {first_sentence(definitions[page], 300)}" for page in pages]
    props = {
        "title": title,
        "kind": "source-summary",
        "category": source.kind,
        "source": f"[[{source.note_name}]]",
        "description": first_sentence(data["summary"]),
        "tags": ["source"],
        "updated": today(),
        "kbc_prompt": version,
        "kbc_model": model,
    }
    body = (f"# {title}\n\n{data['summary'].strip()}\n\n"
            f"Source note: [[{source.note_name}]]\n\n## Concepts\n\n" + ("\n".join(lines) or "None found.") + "\n")
    if write_page(vault, path, props, body, "source-summary", version, model):
        report.written.append(path.stem)
    return False


def read_state(vault: Vault, path: Path) -> tuple[str, dict, str]:
    """page_state with the page as read: (state, properties, body), one read of the file (and
    no parse of its front matter when the page index knows it as it is)."""
    found = read_with_body(vault, path)
    if found is None:
        return "missing", {}, ""
    record, body = found
    return record.state, record.props, body


def write_redirect(vault: Vault, path: Path, target: str, report: CompileReport) -> None:
    """A concept page that was merged or renamed keeps resolving: it points at its new page."""
    state = page_state(vault, path)
    if state == "missing":
        return
    if state != "ours":
        report.kept_human.append(path.stem)
        return
    body = f"# {path.stem}\n\nThis concept now has its page at [[{target}]].\n"
    write_page(vault, path, {"title": path.stem, "kind": "redirect", "redirect": f"[[{target}]]"},
               body, "redirect")


def stale_pages(vault: Vault, versions: dict[str, str], model: str) -> list[str]:
    """`versions`: page kind -> the prompt version that writes it now."""
    out = []
    for row in registered_pages(vault).values():
        version = versions.get(row["kind"])
        if version and is_stale(row["prompt_version"], row["model"], version, model):
            out.append(Path(row["path"]).stem)
    return out
