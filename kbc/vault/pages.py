"""Pages kbc writes: atomic, with a hash of what kbc wrote (properties and body) in their front
matter so human edits are seen, and re-checked at write time so an edit made meanwhile is kept."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from kbc.vault import Vault
from kbc.vault.files import atomic_write
from kbc.vault.frontmatter import FrontMatterError, render, split
from kbc.vault import page_index
from kbc.vault.page_text import (BACKLINKS_END, BACKLINKS_START, body_hash, is_manual, own_body,  # noqa: F401
                                 page_hash, state_of)


def today() -> str:
    return dt.date.today().isoformat()


def read_page(path: Path) -> tuple[dict, str]:
    return split(path.read_text(encoding="utf-8"))


def page_state(vault: Vault, path: Path) -> str:
    """'missing', 'ours' (as kbc wrote it), 'edited' (a person changed the body), 'manual'
    (marked `kbc: manual`), or 'foreign' (not written by kbc).

    The hash of the body kbc wrote travels in the page's own front matter (`kbc_hash`), so
    edits are recognised in any clone of the vault, with or without its database."""
    return page_index.page_state(vault, path)  # read again only if the file changed since it was last read


# Code-kept navigation: rebuilt from the wiki itself, so rewritten even after a person's edit
# (the log's writer reads the page and keeps its body). Every other kind keeps the edit.
REBUILT_KINDS = ("index", "log")


def write_page(vault: Vault, path: Path, props: dict, body: str, kind: str,
               prompt_version: str = "", model: str = "") -> bool:
    """Write a kbc page atomically, its hash in its front matter, and register it (kind,
    prompt version, model) for stale checks and index clean-up. Returns False if unchanged,
    or if the page on disk is a person's (edited, manual, foreign) at this moment: however
    long the caller waited for a model, their text is never replaced. The update then goes
    to wiki/proposals/ (or, for a manual page or a proposal, is skipped), with a line in
    vault.notices saying so."""
    text, read = _text(props, body)
    try:
        current = path.read_text(encoding="utf-8") if path.exists() else None
    except (OSError, UnicodeDecodeError):
        current = ""  # unreadable: not ours to replace
    if current == text:
        return False
    if current is not None and kind not in REBUILT_KINDS:
        state = _state_of_text(current)
        if state != "ours":
            _keep_person_edit(vault, path, props, body, kind, prompt_version, model, state)
            return False
    atomic_write(path, text)
    page_index.wrote(vault, path, text, read)
    _register(vault, path, kind, prompt_version, model)
    return True


def _text(props: dict, body: str) -> tuple[str, tuple[dict, str]]:
    """The page's text, and what a reader parses from it (so nobody parses it again)."""
    clean = {k: v for k, v in props.items() if k != "kbc_hash"}
    # Hash what a reader gets back from the file, so the check is exact after a round trip.
    read_props, read_body = split(render(clean, body))
    digest = page_hash(read_props, read_body)  # "p...": a string YAML reads back as written
    return render({**clean, "kbc_hash": digest}, body), ({**read_props, "kbc_hash": digest}, read_body)


def _state_of_text(text: str) -> str:
    try:
        props, body = split(text)
    except FrontMatterError:
        return "edited"
    return state_of(props, body)


def _register(vault: Vault, path: Path, kind: str, prompt_version: str, model: str) -> None:
    # Plain SQL: sqlite-utils' upsert (column checks, conversion) cost 0.5 ms a page, 20,000 a first compile.
    with vault.db_lock, vault.db.conn:
        vault.db.conn.execute(_REGISTER, (vault.rel(path), kind, prompt_version, model, today()))


_REGISTER = ("insert into pages (path, kind, prompt_version, model, written_at) values (?, ?, ?, ?, ?) "
             "on conflict (path) do update set kind = excluded.kind, prompt_version = excluded.prompt_version, "
             "model = excluded.model, written_at = excluded.written_at")


def proposal_path(vault: Vault, path: Path) -> Path:
    return vault.wiki_dir / "proposals" / f"{path.stem} (proposed).md"


def _keep_person_edit(vault: Vault, path: Path, props: dict, body: str, kind: str,
                      prompt_version: str, model: str, state: str) -> None:
    rel = vault.rel(path)
    if state == "manual" or kind == "proposal":
        vault.notices.append(f"{rel}: changed by a person while kbc worked; kept as it is, "
                             "kbc's update was not written")
        return
    proposal = proposal_path(vault, path)
    aliases = {"aliases": []} if "aliases" in props else {}
    text, _ = _text({**props, **aliases, "kind": "proposal", "proposal_for": f"[[{path.stem}]]"}, body)
    atomic_write(proposal, text)
    _register(vault, proposal, "proposal", prompt_version, model)
    vault.notices.append(f"{rel}: changed by a person while kbc worked; kept it, and put kbc's "
                         f"update in {vault.rel(proposal)}")


def set_backlinks(vault: Vault, path: Path, names: list[str], page: tuple[dict, str, str] | None = None) -> bool:
    """Replace the managed backlinks section of a page kbc owns; leave edited pages alone.
    `page` is (props, body, text) as the caller read it: the file is then only re-read to
    see it has not changed since, not parsed again."""
    if page is not None:
        props, body, text = page
        if state_of(props, body) != "ours":
            return False
        try:
            if path.read_text(encoding="utf-8") != text:
                return set_backlinks(vault, path, names)  # changed meanwhile: judge it afresh
        except (OSError, UnicodeDecodeError):
            return False
    else:  # the front matter parsed only if the page changed since the index last read it
        read = page_index.read_with_body(vault, path)
        if read is None or read[0].state != "ours":
            return False
        props, body = read[0].props, read[1]
    section = ""
    if names:
        items = "\n".join(f"- [[{name}]]" for name in names)
        section = f"{BACKLINKS_START}\n## Backlinks\n\n{items}\n{BACKLINKS_END}\n"
    new_body = own_body(body) + ("\n" + section if section else "")
    if new_body == body:
        return False
    text = render(props, new_body)  # kbc_hash is unchanged: the backlinks are not hashed
    atomic_write(path, text)
    page_index.wrote(vault, path, text, (props, new_body.lstrip("\n")))
    return True


def remove_page(vault: Vault, path: Path) -> None:
    path.unlink(missing_ok=True)
    with vault.db_lock:
        vault.db.execute("delete from pages where path = ?", [vault.rel(path)])
        vault.db.conn.commit()


def registered_paths(vault: Vault) -> set[str]:
    """The paths of the pages kbc registered (registered_pages' keys, without reading the rows)."""
    with vault.db_lock:
        return {row[0] for row in vault.db.execute("select path from pages").fetchall()}


def registered_pages(vault: Vault, kind: str | None = None) -> dict[str, dict]:
    sql = "select * from pages" + (" where kind = ?" if kind else "")
    with vault.db_lock:
        return {row["path"]: row for row in vault.db.query(sql, [kind] if kind else [])}
