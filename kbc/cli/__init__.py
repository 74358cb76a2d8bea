"""The kbc command line: parses arguments, calls the library, prints results.

One module per area registers its commands on `cli` (imported at the bottom). Keep each
module's top-level imports light: the library is imported inside the commands, so that
`kbc --help` and `kbc search` start at once (tests/test_cli_startup.py guards this).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from kbc.cli.guard import LockingCommand, doctor, funnel
from kbc.errors import KbcError

if TYPE_CHECKING:
    from kbc.llm import LLM, Templates
    from kbc.vault import Vault


class KbcGroup(click.Group):
    """Every error as one line, Ctrl-C as a resumable stop (kbc.cli.guard.funnel); commands
    that write hold the vault lock (LockingCommand); subgroups do the same."""

    command_class = LockingCommand
    group_class = type

    def invoke(self, ctx):
        return funnel(ctx, lambda: click.Group.invoke(self, ctx))


@click.group(cls=KbcGroup)
@click.version_option(package_name="kbc")
@click.option("--vault", "vault_path", envvar="KBC_VAULT", type=click.Path(file_okay=False),
              help="The vault folder (default: the nearest folder upward with kbc.toml).")
@click.option("--debug", is_flag=True, help="Show the Python traceback of an error.")
@click.pass_context
def cli(ctx, vault_path, debug):
    """kbc compiles research notes in raw/ into a linked Markdown wiki in wiki/.

    \b
    Example:
      kbc init my-vault && cd my-vault
      kbc ingest https://example.org/article paper.pdf
      kbc compile && kbc stats
    """
    ctx.obj = {"vault_path": vault_path, "debug": debug, "vaults": []}


cli.add_command(doctor)


def llm_options(fn):
    fn = click.option("--base-url", help="OpenAI-compatible endpoint (else KBC_BASE_URL / kbc.toml; "
                                         "none means the embedded model).")(fn)
    fn = click.option("--model", help="Model name at the endpoint (else KBC_MODEL / kbc.toml).")(fn)
    fn = click.option("--budget", type=int, help="Stop cleanly before spending more tokens than this.")(fn)
    return fn


def open_vault(ctx, **overrides) -> Vault:
    from kbc.vault import Vault, find_vault

    root = find_vault(explicit=ctx.obj.get("vault_path"))
    vault = Vault(root, overrides={k: v for k, v in overrides.items() if v is not None})
    ctx.find_root().obj.setdefault("vaults", []).append(vault)  # its notices are printed at the end
    return vault


def make_llm(vault: Vault, quiet: bool = False, batch_sink=None) -> LLM:
    """batch_sink: "api" (the endpoint's Batch API), a JSONL file path, or None (live; answers
    of batches collected since are still used)."""
    from kbc.llm import LLM, RunTotals, make_backend

    show = not quiet and sys.stderr.isatty()

    def progress(totals: RunTotals):
        if show:
            click.echo(f"\r  {totals.requests} requests, {totals.prompt_tokens:,} prompt tokens "
                       f"({totals.cached_tokens:,} cached), {totals.completion_tokens:,} completion",
                       err=True, nl=False)

    settings = vault.settings
    backend = make_backend(settings)
    options = dict(budget=settings.budget, prices=settings.prices, concurrency=settings.concurrency,
                   on_progress=progress)
    from kbc.llm.batch import ApiSink, BatchLLM, FileSink, has_batches

    if batch_sink is None and not has_batches(vault.db):
        return LLM(backend, vault.db, vault.db_lock, **options)
    sink = None if batch_sink is None else ApiSink(backend) if batch_sink == "api" else FileSink(batch_sink)
    return BatchLLM(backend, vault.db, vault.db_lock, sink=sink, **options)


def templates_for(vault: Vault) -> Templates:
    from kbc.llm import Templates

    return Templates([vault.root / "templates"])


def emit_json(data) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False))


@cli.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False))
def init(directory):
    """Make DIRECTORY a kbc vault (safe to rerun: only adds what is missing).

    \b
    Example:
      kbc init research/consensus
    """
    from kbc.vault import init_vault

    created = init_vault(Path(directory))
    where = Path(directory).resolve()
    if created:
        click.echo(f"Initialised vault in {where}: created {', '.join(created)}")
    else:
        click.echo(f"{where} is already a kbc vault; nothing to do")


# The command modules register themselves on `cli`; imported last because they import it.
from kbc.cli import admin, agents, batch, build, exchange, outputs, query, research_cmd, watch  # noqa: E402,F401
