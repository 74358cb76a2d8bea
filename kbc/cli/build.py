"""Commands that build the vault: ingest sources into raw/, compile raw/ into wiki/."""
from __future__ import annotations

import sys

import click

from kbc.cli import cli, emit_json, llm_options, make_llm, open_vault, templates_for


@cli.command(name="ingest")
@click.argument("sources", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per source.")
@click.pass_context
def ingest_command(ctx, sources, as_json):
    """Turn SOURCES (URLs, files, folders, or - for one per line on stdin) into notes in raw/.

    Web pages, PDFs, images, Markdown/text notes, datasets (csv, tsv, json, jsonl) and git
    repositories. Ingesting the same content again changes nothing.

    \b
    Example:
      kbc ingest https://example.org/post paper.pdf ~/clippings/
      cat urls.txt | kbc ingest -
    """
    from kbc.cli.progress import ItemProgress
    from kbc.ingest import Ingester
    from kbc.ingest.count import count_results
    from kbc.search import refresh_index

    vault = open_vault(ctx)
    sources = [line.strip() for source in sources
               for line in (sys.stdin if source == "-" else [source]) if line.strip()]
    describe = llm = None
    if vault.settings.vision:
        from kbc.ingest import image_describer

        llm = make_llm(vault, quiet=True)
        describe = image_describer(llm, templates_for(vault))
    progress = ItemProgress(count_results(sources), "sources", enabled=not as_json)

    def show(result):
        progress.advance(tokens=llm.totals.prompt_tokens + llm.totals.completion_tokens if llm else 0)
        if as_json:
            return
        if result.status == "failed":
            progress.echo(f"kbc: error: {result.error}", err=True)
        elif result.status == "skipped":  # a link out of the input, or the vault itself: not read
            progress.echo(f"kbc: warning: {result.error}", err=True)
        else:
            progress.echo(f"{result.status:<9} {result.note}  <- {result.source}")
        for warning in result.warnings:
            progress.echo(f"kbc: warning: {warning}", err=True)

    try:
        results = Ingester(vault, describe=describe).ingest_all(sources, on_result=show)
    finally:
        progress.close()
    refresh_index(vault, ("raw",))
    if as_json:
        emit_json([r.to_dict() for r in results])
    if any(r.status == "failed" for r in results):
        ctx.exit(1)


@cli.command(name="compile")
@llm_options
@click.option("--stale", is_flag=True, help="Also rebuild pages written by an older prompt or another model.")
@click.option("--full", is_flag=True, help="Rebuild every page.")
@click.option("--estimate", is_flag=True, help="Print the requests and tokens a run would need; call nothing.")
@click.option("--batch", is_flag=True, help="Send what the model must answer as one Batch API job "
                                             "(half price, within 24 h); a later `kbc compile` collects it.")
@click.option("--explain", is_flag=True, help="Print the stored merge decisions (same, part of, related, "
                                               "different, renames) and who made them; call nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def compile_command(ctx, base_url, model, budget, stale, full, estimate, batch, explain, as_json):
    """Compile raw/ into wiki/: summaries, concept articles, indexes, backlinks.

    Only new or changed sources are sent to the model; a rerun with nothing changed
    makes no request.

    \b
    Example:
      kbc compile --estimate
      kbc compile --budget 200000
      kbc compile --batch && kbc compile   # submit, later collect
      kbc compile --explain                # why concepts were merged or kept apart
    """
    from kbc.compile import CompileOptions, compile_vault
    from kbc.compile.collector import run_collection
    from kbc.search import refresh_index

    vault = open_vault(ctx, base_url=base_url, model=model, budget=budget)
    if explain:
        from kbc.compile.manifest import Manifest
        from kbc.compile.sync import explain as explain_decisions

        lines = explain_decisions(Manifest(vault))
        if as_json:
            emit_json(lines)
        else:
            click.echo("\n".join(lines) if lines else "no merge decisions stored yet")
        return
    llm = make_llm(vault, quiet=as_json, batch_sink="api" if batch and not estimate else None)
    with run_collection():  # the search index's refresh too: a full pass after the run walks all it left
        report = compile_vault(vault, llm, templates_for(vault),
                               CompileOptions(stale=stale, full=full, estimate=estimate))
        if sys.stderr.isatty() and llm.totals.requests and not as_json:
            click.echo("", err=True)
        if not estimate:
            refresh_index(vault)
    totals = llm.totals
    if as_json:
        emit_json({**report.to_dict(), "tokens": totals.__dict__})
    elif estimate:
        e = report.estimate
        click.echo(f"{e['sources']} sources to compile: {e['extract_requests']} extract requests "
                   f"({e['extract_requests_cached']} already answered, free), "
                   f"{e['extract_prompt_tokens']:,} prompt tokens; about {e['consolidate_requests_about']} "
                   f"consolidation requests, ~{e['consolidate_prompt_tokens_about']:,} prompt tokens; "
                   f"about {e['write_requests_about']} write "
                   f"requests, ~{e['write_prompt_tokens_about']:,} prompt tokens. "
                   f"Total about {e['total_prompt_tokens_about']:,} prompt tokens.")
    else:
        click.echo(f"sources: {len(report.new)} new, {len(report.changed)} changed, "
                   f"{len(report.removed)} removed, {report.unchanged} unchanged")
        click.echo(f"pages: {len(set(report.written))} written, {len(set(report.deleted_pages))} removed, "
                   f"{len(set(report.kept_human))} human-edited kept")
        for name in report.proposals:
            click.echo(f"proposed update for review: [[{name}]]")
        for line in report.merged:
            click.echo(f"merged: {line}")
        click.echo(f"tokens: {totals.prompt_tokens:,} prompt ({totals.cached_tokens:,} cached), "
                   f"{totals.completion_tokens:,} completion in {totals.requests} requests "
                   f"({totals.cache_hits} from the response cache)")
        if report.stale:
            click.echo(f"{len(report.stale)} pages were written by another prompt version or model; "
                       "`kbc compile --stale` rebuilds them")
    for warning in report.warnings:
        click.echo(f"kbc: warning: {warning}", err=True)
    for error in report.errors:
        click.echo(f"kbc: error: {error}", err=True)
    if report.stopped:
        click.echo(f"kbc: stopped: {report.stopped}", err=True)
        ctx.exit(3)
    if report.errors:
        ctx.exit(1)
