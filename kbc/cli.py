"""The kbc command line: parses arguments, calls the library, prints results."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from kbc.errors import KbcError
from kbc.llm import LLM, RunTotals, Templates, make_backend
from kbc.llm.ledger import parse_since, usage_by_stage
from kbc.vault import Vault, find_vault, init_vault


class KbcGroup(click.Group):
    """Turns kbc's own errors into one line and Ctrl-C into a resumable stop."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except KbcError as exc:
            click.echo(f"kbc: error: {exc}", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            click.echo("kbc: interrupted; finished work is kept, rerun to resume", err=True)
            ctx.exit(130)


@click.group(cls=KbcGroup)
@click.version_option(package_name="kbc")
@click.option("--vault", "vault_path", envvar="KBC_VAULT", type=click.Path(file_okay=False),
              help="The vault folder (default: the nearest folder upward with kbc.toml).")
@click.pass_context
def cli(ctx, vault_path):
    """kbc compiles research notes in raw/ into a linked Markdown wiki in wiki/.

    \b
    Example:
      kbc init my-vault && cd my-vault
      kbc ingest https://example.org/article paper.pdf
      kbc compile && kbc stats
    """
    ctx.obj = {"vault_path": vault_path}


def llm_options(fn):
    fn = click.option("--base-url", help="OpenAI-compatible endpoint (else KBC_BASE_URL / kbc.toml; "
                                         "none means the embedded model).")(fn)
    fn = click.option("--model", help="Model name at the endpoint (else KBC_MODEL / kbc.toml).")(fn)
    fn = click.option("--budget", type=int, help="Stop cleanly before spending more tokens than this.")(fn)
    return fn


def open_vault(ctx, **overrides) -> Vault:
    root = find_vault(explicit=ctx.obj.get("vault_path"))
    return Vault(root, overrides={k: v for k, v in overrides.items() if v is not None})


def make_llm(vault: Vault, quiet: bool = False) -> LLM:
    show = not quiet and sys.stderr.isatty()

    def progress(totals: RunTotals):
        if show:
            click.echo(f"\r  {totals.requests} requests, {totals.prompt_tokens:,} prompt tokens "
                       f"({totals.cached_tokens:,} cached), {totals.completion_tokens:,} completion",
                       err=True, nl=False)

    settings = vault.settings
    return LLM(make_backend(settings), vault.db, vault.db_lock, budget=settings.budget,
               prices=settings.prices, concurrency=settings.concurrency, on_progress=progress)


def templates_for(vault: Vault) -> Templates:
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
    created = init_vault(Path(directory))
    where = Path(directory).resolve()
    if created:
        click.echo(f"Initialised vault in {where}: created {', '.join(created)}")
    else:
        click.echo(f"{where} is already a kbc vault; nothing to do")


@cli.command(name="compile")
@llm_options
@click.option("--stale", is_flag=True, help="Also rebuild pages written by an older prompt or another model.")
@click.option("--full", is_flag=True, help="Rebuild every page.")
@click.option("--estimate", is_flag=True, help="Print the requests and tokens a run would need; call nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def compile_command(ctx, base_url, model, budget, stale, full, estimate, as_json):
    """Compile raw/ into wiki/: summaries, concept articles, indexes, backlinks.

    Only new or changed sources are sent to the model; a rerun with nothing changed
    makes no request.

    \b
    Example:
      kbc compile --estimate
      kbc compile --budget 200000
    """
    from kbc.compile import CompileOptions, compile_vault
    from kbc.search import refresh_index

    vault = open_vault(ctx, base_url=base_url, model=model, budget=budget)
    llm = make_llm(vault, quiet=as_json)
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
                   f"{e['extract_prompt_tokens']:,} prompt tokens; about {e['write_requests_about']} write "
                   f"requests, ~{e['write_prompt_tokens_about']:,} prompt tokens. "
                   f"Total about {e['total_prompt_tokens_about']:,} prompt tokens.")
    else:
        click.echo(f"sources: {len(report.new)} new, {len(report.changed)} changed, "
                   f"{len(report.removed)} removed, {report.unchanged} unchanged")
        click.echo(f"pages: {len(set(report.written))} written, {len(set(report.deleted_pages))} removed, "
                   f"{len(set(report.kept_human))} human-edited kept")
        for name in report.proposals:
            click.echo(f"proposed update for review: [[{name}]]")
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
    from kbc.ingest import Ingester
    from kbc.search import refresh_index

    vault = open_vault(ctx)

    def expanded():
        for source in sources:
            if source == "-":
                yield from (line.strip() for line in sys.stdin if line.strip())
            else:
                yield source

    counts = {"done": 0, "failed": 0}
    progress = sys.stderr.isatty() and not as_json

    def show(result):
        counts["done"] += 1
        counts["failed"] += result.status == "failed"
        if progress:
            click.echo(f"\r  {counts['done']} sources done, {counts['failed']} failed", err=True, nl=False)
            click.echo("\r", err=True, nl=False)
        if as_json:
            return
        if result.status == "failed":
            click.echo(f"kbc: error: {result.error}", err=True)
        else:
            click.echo(f"{result.status:<9} {result.note}  <- {result.source}")
        for warning in result.warnings:
            click.echo(f"kbc: warning: {warning}", err=True)

    describe = None
    if vault.settings.vision:
        from kbc.ingest import image_describer

        describe = image_describer(make_llm(vault, quiet=True), templates_for(vault))
    results = Ingester(vault, describe=describe).ingest_all(expanded(), on_result=show)
    refresh_index(vault, ("raw",))
    if as_json:
        emit_json([r.to_dict() for r in results])
    if any(r.status == "failed" for r in results):
        ctx.exit(1)


@cli.command(name="search")
@click.argument("query")
@click.option("-n", "limit", default=10, show_default=True, help="How many results.")
@click.option("--raw", "in_raw", is_flag=True, help="Search the raw notes instead of the wiki.")
@click.option("--reindex", is_flag=True, help="Rebuild the search index from scratch first.")
@click.option("--json", "as_json", is_flag=True, help="Print page, heading, score and snippet as JSON.")
@click.pass_context
def search_command(ctx, query, limit, in_raw, reindex, as_json):
    """Full-text search (BM25 over heading-sized chunks; titles and aliases count most;
    typos forgiven). The index follows edits made in Obsidian by itself.

    \b
    Example:
      kbc search "leader election" -n 5
      kbc search --raw paxso --json
    """
    from kbc.search import Searcher, reindex as rebuild_index

    vault = open_vault(ctx)
    if reindex:
        rebuild_index(vault)
    hits = Searcher(vault, "raw" if in_raw else "wiki").search(query, limit)
    if as_json:
        emit_json([h.to_dict() for h in hits])
        return
    if not hits:
        click.echo("no results")
    for hit in hits:
        where = f"[[{hit.page}]]" + (f" § {hit.heading}" if hit.heading else "")
        click.echo(f"{hit.score:7.2f}  {where}\n         {hit.snippet}")


@cli.command(name="ask")
@click.argument("question")
@llm_options
@click.option("--save", is_flag=True, help="File the answer in wiki/answers/ (indexed and searchable).")
@click.option("--continue", "follow_up", is_flag=True, help="A follow-up to the previous question.")
@click.option("--json", "as_json", is_flag=True, help="Print answer, sources and tokens as JSON.")
@click.pass_context
def ask_command(ctx, question, base_url, model, budget, save, follow_up, as_json):
    """Answer QUESTION from the wiki, citing the pages used as [[links]].

    Reads only what fits the ask budget (kbc.toml [ask] context_tokens, default 8000).

    \b
    Example:
      kbc ask "How do Raft and Paxos differ?" --save
      kbc ask --continue "And which one does Chubby use?"
    """
    from kbc.ask import ASK_TEMPLATE, ask, save_answer
    from kbc.search import refresh_index

    vault = open_vault(ctx, base_url=base_url, model=model, budget=budget)
    llm = make_llm(vault, quiet=True)
    templates = templates_for(vault)
    answer = ask(vault, llm, templates, question, follow_up=follow_up)
    if save:
        answer.saved = save_answer(vault, answer, llm.model, templates.version(ASK_TEMPLATE))
        refresh_index(vault)
    if as_json:
        emit_json(answer.to_dict())
        return
    click.echo(answer.text)
    click.echo(f"\n({answer.prompt_tokens:,} prompt tokens, {answer.cached_tokens:,} cached, "
               f"{answer.completion_tokens:,} completion"
               + (f"; saved to {answer.saved}" if answer.saved else "") + ")", err=True)


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


def _make_output(ctx, kind: str, text: str, base_url, model, budget, as_json, render=None):
    from kbc.output import OutputMaker
    from kbc.search import refresh_index

    vault = open_vault(ctx, base_url=base_url, model=model, budget=budget)
    maker = OutputMaker(vault, make_llm(vault, quiet=True), templates_for(vault))
    output = getattr(maker, kind)(text)
    refresh_index(vault)
    render_error = None
    if render:
        try:
            output.files.append(vault.rel(maker.render(vault.root / output.page, render)))
        except KbcError as exc:  # the deck itself is written: say so, then why no render
            render_error = exc
    if as_json:
        emit_json(output.to_dict())
    else:
        click.echo(f"wrote {output.page}" + "".join(f"\nwrote {f}" for f in output.files))
        click.echo(f"sources: {', '.join(output.sources)}")
        click.echo(f"tokens: {output.tokens:,}" + (" (answered from the response cache: free)" if output.from_cache else ""))
    if render_error:
        raise render_error


@cli.command(name="slides")
@click.argument("topic")
@llm_options
@click.option("--render", type=click.Choice(["html", "pdf"]), help="Also render with marp-cli.")
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
@click.pass_context
def slides_command(ctx, topic, base_url, model, budget, render, as_json):
    """A Marp slide deck on TOPIC from the wiki, saved in wiki/outputs/.

    \b
    Example:
      kbc slides "Consensus algorithms" --render html
    """
    _make_output(ctx, "slides", topic, base_url, model, budget, as_json, render)


def _output_command(kind: str, argument: str, help_text: str):
    """`kbc chart` and `kbc report` take the same options; only the output differs."""
    @click.argument(argument)
    @llm_options
    @click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
    @click.pass_context
    def command(ctx, base_url, model, budget, as_json, **arguments):
        _make_output(ctx, kind, arguments[argument], base_url, model, budget, as_json)

    cli.command(name=kind, help=help_text)(command)


_output_command("chart", "question", """A chart of the numbers the wiki holds on QUESTION (PNG plus a note with the data).

    The model only extracts numbers; kbc's own code draws them, and a number its cited
    page does not contain is left out.

    \b
    Example:
      kbc chart "Latency of Dynamo operations by percentile"
    """)
_output_command("report", "topic", """A long-form report on TOPIC that synthesises across wiki pages, citing them.

    \b
    Example:
      kbc report "How systems agree on a leader"
    """)


@cli.command(name="serve")
@click.option("--port", default=8000, show_default=True, help="Port to listen on.")
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

    def answer(question):
        if not llm_holder:  # the embedded model loads on the first question, not at start
            llm_holder.append(make_llm(vault, quiet=True))
        return ask(vault, llm_holder[0], templates_for(vault), question)

    server = make_server(Site(vault, ask=answer), host, port)
    click.echo(f"Serving {vault.wiki_dir} on http://{host}:{server.server_port}/ (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped")
    finally:
        server.server_close()
