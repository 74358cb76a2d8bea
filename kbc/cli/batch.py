"""Commands for batch runs: the compile's requests as an OpenAI-batch JSONL file, results back in."""
from __future__ import annotations

from pathlib import Path

import click

from kbc.cli import cli, emit_json, llm_options, make_llm, open_vault, templates_for


@cli.group(name="batch")
def batch_group():
    """Run a compile's requests elsewhere as a batch, and bring the answers back.

    \b
    Example:
      kbc batch export requests.jsonl
      vllm run-batch -i requests.jsonl -o results.jsonl --model MODEL
      kbc batch import results.jsonl && kbc compile
    """


@batch_group.command(name="export")
@llm_options
@click.argument("file", type=click.Path(dir_okay=False))
@click.pass_context
def export_command(ctx, base_url, model, budget, file):
    """Write the requests the next compile step needs to FILE (OpenAI batch JSONL).

    The model name in each line is the configured one (KBC_MODEL / --model): the name the
    batch runner serves. Nothing is sent anywhere.

    \b
    Example:
      kbc batch export requests.jsonl --model Qwen/Qwen2.5-7B-Instruct
    """
    from kbc.compile import CompileOptions, compile_vault

    vault = open_vault(ctx, base_url=base_url, model=model, budget=budget)
    if not vault.settings.uses_endpoint:  # no endpoint is called: the lines only need a model name
        vault = open_vault(ctx, base_url="http://batch.invalid/v1", model=model, budget=budget)
    llm = make_llm(vault, quiet=True, batch_sink=Path(file))
    report = compile_vault(vault, llm, templates_for(vault), CompileOptions())
    for error in report.errors:
        click.echo(f"kbc: error: {error}", err=True)
    click.echo(report.stopped or "nothing to export: every request is answered already; `kbc compile` finishes")


@batch_group.command(name="import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@click.pass_context
def import_command(ctx, file, as_json):
    """Read a batch results FILE (OpenAI / `vllm run-batch` output); `kbc compile` then uses it.

    \b
    Example:
      kbc batch import results.jsonl && kbc compile
    """
    from kbc.errors import KbcError
    from kbc.llm.batch import BatchStore

    vault = open_vault(ctx)
    store = BatchStore(vault.db, vault.db_lock)
    try:
        with open(file, encoding="utf-8") as lines:
            answers, failures = store.take_lines(lines)
    except UnicodeDecodeError:
        raise KbcError(f"{file}: not a text file") from None
    except KbcError as exc:
        raise KbcError(f"{file}: {exc}") from None
    done = store.settle_imported()
    if as_json:
        emit_json({"answers": answers, "failed": failures, "batches_done": done})
        return
    click.echo(f"imported {answers} answers ({failures} failed lines will be sent again); "
               "run `kbc compile` to use them")


@batch_group.command(name="status")
@click.option("--json", "as_json", is_flag=True, help="Print the batches as JSON.")
@click.pass_context
def status_command(ctx, as_json):
    """List the vault's batches and where each stands.

    \b
    Example:
      kbc batch status
    """
    from kbc.llm.batch import BatchStore

    vault = open_vault(ctx)
    batches = BatchStore(vault.db, vault.db_lock).all()
    if as_json:
        emit_json(batches)
        return
    if not batches:
        click.echo("no batches")
    for b in batches:
        click.echo(f"{b['id']:<24} {b['status']:<10} {b['requests']:>6} requests  {b['created']}  {b['detail']}")


@batch_group.command(name="cancel")
@click.argument("batch_id")
@click.pass_context
def cancel_command(ctx, batch_id):
    """Give up on BATCH_ID: its requests are sent again by the next compile.

    \b
    Example:
      kbc batch cancel batch_abc123
    """
    from kbc.errors import KbcError
    from kbc.llm.batch import BatchStore

    vault = open_vault(ctx)
    store = BatchStore(vault.db, vault.db_lock)
    batch = next((b for b in store.pending() if b["id"] == batch_id), None)
    if batch is None:
        raise KbcError(f"{batch_id}: no unfinished batch of that id (`kbc batch status` lists them)")
    if batch["sink"] == "api":
        llm = make_llm(vault, quiet=True)
        try:
            llm.backend.client.batches.cancel(batch_id)
        except Exception as exc:  # already finished or unknown there: ours is cancelled all the same
            click.echo(f"kbc: warning: the endpoint did not cancel it ({type(exc).__name__})", err=True)
    store.settle(batch_id, "cancelled", "cancelled by hand")
    click.echo(f"cancelled {batch_id}; its requests go out again with the next `kbc compile`")
