"""Pages kbc writes: atomic, with the hash of their body in their front matter so human edits are seen."""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from kbc.vault import Vault
from kbc.vault.files import atomic_write, sha256_text
from kbc.vault.frontmatter import render, split

BACKLINKS_START = "<!-- kbc:backlinks -->"
BACKLINKS_END = "<!-- /kbc:backlinks -->"
_BACKLINKS = re.compile(re.escape(BACKLINKS_START) + r".*?" + re.escape(BACKLINKS_END) + r"\n?", re.S)


def own_body(body: str) -> str:
    """The body without the code-managed backlinks section (which changes when other pages do)."""
    return _BACKLINKS.sub("", body).rstrip() + "\n"


def body_hash(body: str) -> str:
    return sha256_text(own_body(body))


def today() -> str:
    return dt.date.today().isoformat()


def read_page(path: Path) -> tuple[dict, str]:
    return split(path.read_text(encoding="utf-8"))


def is_manual(props: dict) -> bool:
    return str(props.get("kbc", "")).strip().lower() == "manual"


def page_state(vault: Vault, path: Path) -> str:
    """'missing', 'ours' (as kbc wrote it), 'edited' (a person changed the body), 'manual'
    (marked `kbc: manual`), or 'foreign' (not written by kbc).

    The hash of the body kbc wrote travels in the page's own front matter (`kbc_hash`), so
    edits are recognised in any clone of the vault, with or without its database."""
    if not path.exists():
        return "missing"
    try:
        props, body = read_page(path)
    except Exception:
        return "edited"
    return state_of(props, body)


def state_of(props: dict, body: str) -> str:
    """page_state for a page already read."""
    if is_manual(props):
        return "manual"
    if "kbc_hash" not in props:
        return "foreign"
    return "ours" if props["kbc_hash"] == body_hash(body) else "edited"


def write_page(vault: Vault, path: Path, props: dict, body: str, kind: str,
               prompt_version: str = "", model: str = "") -> bool:
    """Write a kbc page atomically, its body hash in its front matter, and register it (kind,
    prompt version, model) for stale checks and index clean-up. Returns False if unchanged."""
    text = render({**props, "kbc_hash": body_hash(body)}, body)
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    atomic_write(path, text)
    with vault.db_lock:
        vault.db["pages"].upsert({
            "path": vault.rel(path), "kind": kind,
            "prompt_version": prompt_version, "model": model, "written_at": today(),
        }, pk="path")
    return True


def set_backlinks(vault: Vault, path: Path, names: list[str]) -> bool:
    """Replace the managed backlinks section of a page kbc owns; leave edited pages alone."""
    if page_state(vault, path) != "ours":
        return False
    props, body = read_page(path)
    section = ""
    if names:
        items = "\n".join(f"- [[{name}]]" for name in names)
        section = f"{BACKLINKS_START}\n## Backlinks\n\n{items}\n{BACKLINKS_END}\n"
    new_body = own_body(body) + ("\n" + section if section else "")
    if new_body == body:
        return False
    text = render(props, new_body)  # kbc_hash is unchanged: the backlinks are not hashed
    atomic_write(path, text)
    return True


def remove_page(vault: Vault, path: Path) -> None:
    path.unlink(missing_ok=True)
    with vault.db_lock:
        vault.db.execute("delete from pages where path = ?", [vault.rel(path)])
        vault.db.conn.commit()


def registered_pages(vault: Vault, kind: str | None = None) -> dict[str, dict]:
    sql = "select * from pages" + (" where kind = ?" if kind else "")
    with vault.db_lock:
        return {row["path"]: row for row in vault.db.query(sql, [kind] if kind else [])}
