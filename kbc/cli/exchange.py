"""Commands that move the wiki's knowledge elsewhere: a finetuning dataset out, another vault in."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from kbc.cli import cli, emit_json, llm_options, make_llm, open_vault, templates_for


@cli.group(name="export")
def export_group():
    """Export the wiki in forms other tools read.

    \b
    Example:
      kbc export finetune --estimate
    """


@export_group.command(name="finetune")
@llm_options
@click.option("--out", type=click.Path(file_okay=False), help="Folder for the dataset (default: exports/finetune).")
@click.option("--holdout", default=0.1, show_default=True, type=float,
              help="Share of concepts held out: their pairs go to heldout.jsonl only.")
@click.option("--per-concept", default=4, show_default=True, type=click.IntRange(1, 12),
              help="Pairs asked for per concept.")
@click.option("--estimate", is_flag=True, help="Print the requests and tokens a run would need; call nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the report (and the card) as JSON.")
@click.pass_context
def finetune_command(ctx, base_url, model, budget, out, holdout, per_concept, estimate, as_json):
    """A finetuning dataset from the concept pages: question-answer pairs and short tasks
    (define, compare, explain why) in chat JSONL, each answer built from its page's own
    sentences and citing them; a pair its sentences and the sources' claims do not support
    is dropped. Pairs of held-out concepts go to heldout.jsonl only; card.md has the counts.
    A rerun sends only the pages that changed since the last export.

    \b
    Example:
      kbc export finetune --estimate
      kbc export finetune --budget 200000 --out ~/datasets/consensus
    """
    from kbc.export import ExportOptions, export_finetune

    vault = open_vault(ctx, base_url=base_url, model=model, budget=budget)
    llm = make_llm(vault, quiet=as_json)
    report = export_finetune(vault, llm, templates_for(vault), ExportOptions(
        out=Path(out) if out else None, holdout=holdout, per_concept=per_concept, estimate=estimate))
    if sys.stderr.isatty() and llm.totals.requests and not as_json:
        click.echo("", err=True)
    if as_json:
        emit_json({**report.to_dict(), "tokens": llm.totals.__dict__})
    elif estimate:
        e = report.estimate
        click.echo(f"{e['pages']} of {report.concepts} concept pages to (re)generate: {e['requests']} requests "
                   f"({e['requests_cached']} already answered, free), {e['prompt_tokens']:,} prompt tokens, "
                   f"up to {e['completion_tokens_max']:,} completion tokens")
    else:
        totals = llm.totals
        click.echo(f"pages: {len(report.regenerated)} regenerated, {report.reused} unchanged (pairs kept)")
        click.echo(f"pairs this run: {report.accepted} accepted, {report.unsupported} rejected as unsupported, "
                   f"{report.vague} too vague, {report.duplicates} duplicates")
        held = len(report.heldout_concepts)
        click.echo(f"dataset: {report.train} train, {report.heldout} held out "
                   f"({held} concept{'s' if held != 1 else ''} held out) in {report.out}")
        click.echo(f"tokens: {totals.prompt_tokens:,} prompt ({totals.cached_tokens:,} cached), "
                   f"{totals.completion_tokens:,} completion in {totals.requests} requests")
    _finish(ctx, report.errors, report.stopped)


def _finish(ctx, errors: list[str], stopped: str) -> None:
    """Errors and a stop on stderr; exit 3 for a stop (rerun resumes), 1 for errors."""
    for error in errors:
        click.echo(f"kbc: error: {error}", err=True)
    if stopped:
        click.echo(f"kbc: stopped: {stopped}", err=True)
        ctx.exit(3)
    if errors:
        ctx.exit(1)


@cli.command(name="merge")
@click.argument("other", type=click.Path(file_okay=False))
@llm_options
@click.option("--dry-run", is_flag=True, help="Show what would happen and what it would cost; change nothing.")
@click.option("--no-compile", "no_compile", is_flag=True, help="Bring everything over; leave `kbc compile` for later.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan and what was done as JSON.")
@click.pass_context
def merge_command(ctx, other, base_url, model, budget, dry_run, no_compile, as_json):
    """Merge the vault OTHER into this one: its raw notes and attachments (the same content
    is the same note; the same name with other content is kept too, renamed), what its
    database already paid for (extractions, decisions, cached answers), and its pages. Then
    one compile consolidates and rewrites only the concepts that now meet. Pages a person
    edited, on either side, are never overwritten: a clash becomes a proposal. OTHER is only
    read; an interrupted merge resumes when run again.

    \b
    Example:
      kbc merge ../laptop-vault --dry-run
      kbc merge ../laptop-vault --budget 200000
    """
    from kbc.merge import MergeOptions, merge_vaults

    vault = open_vault(ctx, base_url=base_url, model=model, budget=budget)
    llm = make_llm(vault, quiet=as_json) if not no_compile or dry_run else None
    if sys.stderr.isatty() and not as_json:
        click.echo(f"merging {other} {'(dry run) ' if dry_run else ''}...", err=True)
    report = merge_vaults(vault, Path(other), llm, templates_for(vault),
                          MergeOptions(dry_run=dry_run, compile=not no_compile))
    if as_json:
        emit_json(report.to_dict())
    else:
        _print_merge(report)
    compiled = report.compiled or {}
    # The merge asks what compiling both vaults together would ask; `kbc compile` alone would not.
    stopped = compiled.get("stopped", "") or (report.replay or {}).get("stopped", "")
    _finish(ctx, compiled.get("errors", []), stopped + f"; rerun `kbc merge {other}` to finish" if stopped else "")


def _print_merge(report) -> None:
    would = "would be " if report.dry_run else ""
    notes, pages = report.notes, report.pages
    click.echo(f"notes: {report.count(notes, 'add')} {would}added, {report.count(notes, 'rename')} {would}added "
               f"renamed, {report.count(notes, 'duplicate')} duplicates (same content here)")
    for plan in notes:
        if plan.action == "rename":
            click.echo(f"  renamed: {plan.source} -> {plan.target} ({plan.note})")
    click.echo(f"pages: {report.count(pages, 'add')} {would}copied, {report.count(pages, 'proposal')} "
               f"{would}proposed for review, {report.count(pages, 'keep')} kept from this vault")
    for plan in pages:
        if plan.action == "proposal":
            click.echo(f"  proposal: {plan.target} ({plan.note})")
    rows = sum(t.added for t in report.tables)
    click.echo(f"database: {rows} rows {would}imported from {len(report.tables)} tables "
               "(extractions, decisions, cached answers)")
    click.echo(f"concepts both vaults have that {'would be' if report.dry_run else 'were'} consolidated and "
               f"rewritten: {len(report.meeting)}" + (f" ({', '.join(report.meeting[:8])})" if report.meeting else ""))
    if report.estimate is not None:
        e = report.estimate
        click.echo(f"tokens: about {e.get('merge_prompt_tokens_about', 0):,} prompt tokens "
                   f"({e.get('extract_requests', 0)} sources to extract, {e.get('consolidate_requests', 0)} "
                   "consolidation requests for pairs that meet across the vaults, the rest rewriting concepts that meet)")
    if report.replay:
        click.echo(f"consolidation: {report.replay['asked']} of the {report.replay['pairs']} candidate pairs compiling "
                   "both vaults' notes together would ask were new" + (f" ({report.replay['stopped']})"
                                                                       if report.replay['stopped'] else ""))
    if report.compiled:
        t = report.compiled["tokens"]
        click.echo(f"compile: {len(set(report.compiled.get('written', [])))} pages written; tokens: "
                   f"{t['prompt_tokens']:,} prompt ({t['cached_tokens']:,} cached), {t['completion_tokens']:,} "
                   f"completion in {t['requests']} requests")
