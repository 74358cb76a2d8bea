"""Ask sessions: each conversation has an id, so a follow-up from the CLI never continues a
question asked in the web UI (or by an agent) unless it names that session."""
from __future__ import annotations

import datetime as dt
import json
import secrets
from dataclasses import dataclass

from kbc.errors import KbcError
from kbc.vault import Vault


@dataclass
class Session:
    id: str
    messages: list[dict]  # the last exchange, byte for byte: the prefix of the next prompt
    pages: list[str]  # every page given so far in the session
    questions: list[str]  # asked so far in the session, oldest first


def new_session_id() -> str:
    return secrets.token_hex(4)


def latest_session(vault: Vault, origin: str) -> Session | None:
    """The newest session begun from `origin` ('cli', 'web', 'mcp')."""
    with vault.db_lock:
        rows = list(vault.db.query(
            "select * from ask_sessions where origin = ? order by id desc limit 1", [origin]))
    return _session(rows[0]) if rows else None


def find_session(vault: Vault, session_id: str) -> Session:
    with vault.db_lock:
        rows = list(vault.db.query(
            "select * from ask_sessions where session = ? order by id desc limit 1", [session_id]))
    if not rows:
        raise KbcError(f"no ask session {session_id!r}: start one with a question without --session")
    return _session(rows[0])


def save_exchange(vault: Vault, session_id: str, origin: str, messages: list[dict], pages: list[str],
                  questions: list[str]) -> None:
    with vault.db_lock:
        vault.db["ask_sessions"].insert({
            "created": dt.datetime.now().replace(microsecond=0).isoformat(),
            "messages": json.dumps(messages, ensure_ascii=False),
            "pages": json.dumps(pages, ensure_ascii=False),
            "questions": json.dumps(questions, ensure_ascii=False),
            "session": session_id, "origin": origin,
        }, pk="id")


def _session(row) -> Session:
    return Session(row["session"], json.loads(row["messages"]), json.loads(row["pages"]),
                   json.loads(row.get("questions") or "[]"))
