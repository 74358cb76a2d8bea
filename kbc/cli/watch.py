"""`kbc watch`: the vault's heartbeat: ingest drops, compile when raw/ changes."""
from __future__ import annotations

from pathlib import Path

import click

from kbc.cli import cli


@cli.command(name="watch")
@click.option("--drop", type=click.Path(file_okay=False), help="Also ingest files saved into this folder "
              "(a downloads or Web Clipper folder); files there are read, never moved or deleted.")
@click.option("--once", is_flag=True, help="One cycle (ingest the drop folder, compile) and exit: for cron.")
@click.option("--interval", default=2.0, show_default=True, type=click.FloatRange(0.05),
              help="Seconds between polls.")
@click.option("--debounce", default=5.0, show_default=True, type=click.FloatRange(0),
              help="Quiet seconds after the last change before compiling.")
@click.option("--retry", default=60.0, show_default=True, type=click.FloatRange(0),
              help="Seconds before retrying a failed compile (doubling, at most 15 minutes).")
@click.option("--batch", is_flag=True, help="Compile with --batch (the endpoint's Batch API).")
@click.pass_context
def watch_command(ctx, drop, once, interval, debounce, retry, batch):
    """Watch raw/ (and a drop folder): ingest and compile after changes settle.

    Each cycle runs `kbc ingest` and `kbc compile` as child processes holding the vault
    lock, so a failed cycle is logged and retried, and no two compiles ever overlap.
    Ctrl-C stops cleanly (a compile under way keeps its finished work).

    \b
    Example:
      kbc watch --drop ~/Clippings
      */10 * * * * cd ~/vault && kbc watch --once   # cron
    """
    from kbc.vault import find_vault
    from kbc.watch import Watcher

    root = find_vault(explicit=ctx.obj.get("vault_path"))
    watcher = Watcher(root, Path(drop).resolve() if drop else None, interval=interval, debounce=debounce,
                      retry=retry, extra_args=["--batch"] if batch else [],
                      log=lambda line: click.echo(line, nl=True))
    if once:
        cycle = watcher.run_once()
        ctx.exit(0 if cycle.ok else cycle.compile_code)
    watcher.run_forever()
