"""Commands that look after the vault: stats, lint, serve."""
from __future__ import annotations

import click

from kbc.cli import cli, emit_json, llm_options, make_llm, open_vault, templates_for


@cli.command()
@click.option("--since", help="Only requests since a date (2026-11-30) or a span (2h, 3d, 1w).")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.pass_context
def stats(ctx, since, as_json):
    """Tokens, cached tokens, cache hit rate and cost, per stage and in total.

    \b
    Example:
      kbc stats --since 1d
      kbc stats --json
    """
    from kbc.llm.ledger import parse_since, usage_by_stage

    vault = open_vault(ctx)
    usage = usage_by_stage(vault.db, since=parse_since(since) if since else None)
    if as_json:
        emit_json(usage)
        return
    click.echo("requests: sent, and answered from kbc's response cache (free); tokens: prompt, "
               "the engine's cached share of them, completion")
    header = f"{'stage':<10} {'requests':>8} {'from cache':>10} {'prompt':>10} {'cached':>10} {'hit rate':>8} {'completion':>10} {'cost $':>9}"
    click.echo(header)
    rows = list(usage["stages"].items()) + [("total", usage["total"])]
    for stage, row in rows:
        click.echo(f"{stage:<10} {row['requests']:>8} {row['cache_hits']:>10} {row['prompt_tokens']:>10,} "
                   f"{row['cached_tokens']:>10,} {row['cache_hit_rate']:>8.1%} {row['completion_tokens']:>10,} "
                   f"{row['cost']:>9.4f}")


@cli.command(name="lint")
@llm_options
@click.option("--fix", "mend", is_flag=True, help="Mend what code can (links, indexes, front matter).")
@click.option("--deep", is_flag=True, help="Also ask the model: contradictions, unsupported claims, next questions.")
@click.option("--json", "as_json", is_flag=True, help="Print the problems as JSON (for CI).")
@click.pass_context
def lint_command(ctx, base_url, model, budget, mend, deep, as_json):
    """Check the wiki's health; exit 1 while problems remain.

    Structural checks need no model: missing link targets, orphans, sources without a
    summary, pages missing from the indexes, likely duplicate concepts, stale, empty or
    cut-off pages, invalid front matter, oversized indexes, missing images.

    \b
    Example:
      kbc lint --fix
      kbc lint --deep --budget 100000
    """
    from kbc.compile import EXTRACT_TEMPLATE, WRITE_TEMPLATE
    from kbc.lint import Expectations, check, fix
    from kbc.llm.backends import configured_model_name
    from kbc.search import refresh_index

    vault = open_vault(ctx, base_url=base_url, model=model, budget=budget)
    templates = templates_for(vault)
    expect = Expectations({"concept": templates.version(WRITE_TEMPLATE),
                           "source-summary": templates.version(EXTRACT_TEMPLATE)},
                          configured_model_name(vault.settings))
    fixed = []
    if mend:
        fixed, problems = fix(vault, expect)
        refresh_index(vault)
    else:
        problems = check(vault, expect)
    deep_report = None
    if deep:
        from kbc.lint.deep import deep_lint

        deep_report = deep_lint(vault, make_llm(vault, quiet=as_json), templates)
        refresh_index(vault)
    if as_json:
        emit_json({"problems": [p.to_dict() for p in problems], "fixed": [p.to_dict() for p in fixed],
                   "deep": deep_report.to_dict() if deep_report else None})
    else:
        for problem in fixed:
            click.echo(f"fixed    {problem.line()}")
        for problem in problems:
            click.echo(problem.line())
        if deep_report:
            click.echo(f"deep: {deep_report.checked} concepts checked, {deep_report.reused} unchanged; "
                       f"{len(deep_report.contradictions)} contradictions, {len(deep_report.unsupported)} "
                       f"unsupported claims, {len(deep_report.candidates)} article candidates; see [[health]]")
        click.echo(f"{len(problems)} problems" + (f", {len(fixed)} fixed" if mend else ""))
    if deep_report:
        for error in deep_report.errors:
            click.echo(f"kbc: error: {error}", err=True)
        if deep_report.stopped:
            click.echo(f"kbc: stopped: {deep_report.stopped}", err=True)
    if problems:
        ctx.exit(1)


@cli.command(name="serve")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; only 127.0.0.1 unless you mean to share the wiki.")
@llm_options
@click.pass_context
def serve_command(ctx, port, host, base_url, model, budget):
    """Serve the wiki in a browser: pages, backlinks, search as you type, ask, stats.

    \b
    Example:
      kbc serve --port 8080
    """
    from kbc.ask import ask
    from kbc.serve import Site, make_server

    vault = open_vault(ctx, base_url=base_url, model=model, budget=budget)
    llm_holder = []

    def answer(question, session=None):
        if not llm_holder:  # the embedded model loads on the first question, not at start
            llm_holder.append(make_llm(vault, quiet=True))
        return ask(vault, llm_holder[0], templates_for(vault), question, session=session, origin="web")

    server = make_server(Site(vault, ask=answer), host, port)
    click.echo(f"Serving {vault.wiki_dir} on http://{host}:{server.server_port}/ (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped")
    finally:
        server.server_close()
