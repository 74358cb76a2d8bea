"""What every command goes through: the vault lock for commands that write, and one error
funnel, so that whatever reaches the command line is one line (`--debug` shows the traceback).

Imports stay light (click only): `kbc --help` and `kbc search` must start at once.
"""
from __future__ import annotations

import traceback
from pathlib import Path

import click

from kbc.errors import KbcError, redact

# Commands that never write the vault (long-running ones among them would hold the lock).
READERS = {"search", "stats", "serve", "context", "mcp", "status"}
DB_PATH = Path(".kbc/kbc.db")


def writes(name: str, params: dict) -> bool:
    """Does this command, with these options, write files or state of the vault?"""
    if name == "search":
        return bool(params.get("reindex"))
    if name in READERS or params.get("estimate"):
        return False
    if name == "lint":
        return bool(params.get("mend") or params.get("deep"))
    if name == "ask":
        return bool(params.get("save"))
    if name == "doctor":
        return bool(params.get("rebuild"))
    if name == "watch":
        return False  # its ingest and compile children lock the vault per cycle, not for its whole life
    return True  # ingest, compile, outputs, init, and anything new: safe by default


class LockingCommand(click.Command):
    """Holds .kbc/lock while a writing command runs; a second writer gets one line."""

    def invoke(self, ctx):
        lock = _lock_for(ctx, self.name or "", ctx.params)
        if lock is None:
            return super().invoke(ctx)
        from kbc.vault.lock import VaultLock

        held = VaultLock(lock, _command_name(ctx)).acquire()
        if held.took_stale:
            click.echo(f"kbc: note: took over the lock of `{held.took_stale.command}` "
                       f"(pid {held.took_stale.pid}), which is no longer running", err=True)
        from kbc.vault.files import sweep_temp_files

        sweep_temp_files(lock.parent)
        try:
            return super().invoke(ctx)
        finally:
            held.release()


def _command_name(ctx) -> str:
    """`kbc batch export`, however kbc was started (python -m kbc, a console script)."""
    names = []
    while ctx.parent is not None:
        names.append(ctx.info_name)
        ctx = ctx.parent
    return " ".join(["kbc", *reversed(names)])


def _lock_for(ctx, name: str, params: dict) -> Path | None:
    """The vault's state folder to lock, or None (a reader, or no vault: the command says so)."""
    if not writes(name, params):
        return None
    if name == "init":
        state = Path(params.get("directory") or ".") / ".kbc"
        return state if state.is_dir() else None  # a new vault: nobody else can be writing it
    from kbc.vault import find_vault

    root = ctx.find_root().obj or {}
    try:
        return find_vault(explicit=root.get("vault_path")) / ".kbc"
    except KbcError:
        return None


def funnel(ctx, invoke):
    """Run the command; kbc's errors, OS, encoding, template and database errors, and even
    bugs, end as one line on stderr and an exit code, never a traceback (unless --debug)."""
    try:
        result = invoke()
        _notices(ctx)
        return result
    except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
        _notices(ctx)
        raise
    except KeyboardInterrupt:
        click.echo("kbc: interrupted; finished work is kept, rerun to resume", err=True)
        ctx.exit(130)
    except Exception as exc:  # noqa: BLE001 - this is the funnel
        obj = ctx.find_root().obj  # set by the group's callback, so read only now
        if isinstance(obj, dict) and obj.get("debug"):  # kbc's own errors too: where a line came from
            traceback.print_exc()
        _notices(ctx)
        click.echo(f"kbc: error: {redact(one_line(exc))}", err=True)
        ctx.exit(1)


def one_line(exc: BaseException) -> str:
    """What went wrong, in words, for each kind of error that can reach the command line."""
    import sqlite3

    if isinstance(exc, KbcError):
        return str(exc)
    if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError):
        from kbc.vault.doctor import damaged_line

        return damaged_line(DB_PATH, str(exc))
    if isinstance(exc, sqlite3.OperationalError):
        if "locked" in str(exc) or "busy" in str(exc):
            return "the vault's database is busy (another kbc command holds it); try again"
        if "no such table" in str(exc) or "no such column" in str(exc):
            from kbc.vault.doctor import damaged_line

            return damaged_line(DB_PATH, str(exc))
        return f"database error: {exc}"
    if isinstance(exc, UnicodeDecodeError):
        return f"a file is not UTF-8 text (bad byte at position {exc.start}); save it as UTF-8"
    if isinstance(exc, OSError):
        where = exc.filename or ""
        return f"{where}: {exc.strerror or exc}" if where else f"{exc.strerror or exc}"
    if type(exc).__module__.startswith("jinja2"):
        name = getattr(exc, "name", None) or getattr(exc, "filename", None) or "a template"
        line = getattr(exc, "lineno", None)
        return f"template {name}" + (f", line {line}" if line else "") + f": {getattr(exc, 'message', exc)}"
    if isinstance(exc, RecursionError):
        return "input nested too deeply to read"
    return (f"unexpected {type(exc).__name__}: {str(exc)[:300]} (a bug in kbc; rerun with "
            "`kbc --debug ...` for the traceback and report it)")


def _notices(ctx) -> None:
    """Lines the library left for the person (an edit it kept, a page it could not read)."""
    obj = ctx.find_root().obj
    for vault in (obj.get("vaults", []) if isinstance(obj, dict) else []):
        for line in dict.fromkeys(vault.notices):
            click.echo(f"kbc: warning: {line}", err=True)
        vault.notices.clear()


@click.command(name="doctor")
@click.option("--rebuild", is_flag=True, help="Rebuild a damaged .kbc/kbc.db from wiki/ and raw/.")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@click.pass_context
def doctor(ctx, rebuild, as_json):
    """Check the vault's database; with --rebuild, make a fresh one from what survives.

    The damaged file is kept aside in .kbc/; readable rows are copied over, pages are
    re-registered from their front matter and the search index is rebuilt. Your notes
    (raw/) and pages (wiki/) are never touched.

    \b
    Example:
      kbc doctor
      kbc doctor --rebuild
    """
    import json

    from kbc.vault import find_vault
    from kbc.vault.doctor import check_database, damaged_line

    root = find_vault(explicit=(ctx.find_root().obj or {}).get("vault_path"))
    db_path = root / ".kbc" / "kbc.db"
    problem = check_database(db_path)
    if not rebuild:
        if as_json:
            click.echo(json.dumps({"database": problem or "ok"}))
        elif problem:
            click.echo(damaged_line(db_path, problem))
        else:
            click.echo(f"{db_path}: ok")
        if problem:
            ctx.exit(1)
        return
    from kbc.search import reindex
    from kbc.vault import Vault
    from kbc.vault.doctor import rebuild as rebuild_db

    report = rebuild_db(Vault(root))
    vault = Vault(root)
    indexed = reindex(vault)
    if as_json:
        click.echo(json.dumps({**report.to_dict(), "indexed": indexed}, indent=2))
        return
    click.echo(f"rebuilt {db_path}" + ("" if problem else " (it was not damaged)"))
    for line in report.lines():
        click.echo(f"  {line}")
    click.echo(f"  search index rebuilt: {indexed} files")
