"""Commands that read the wiki: search and ask."""
from __future__ import annotations

import click

from kbc.cli import cli, emit_json, llm_options, make_llm, open_vault, templates_for


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
@click.option("--continue", "follow_up", is_flag=True,
              help="A follow-up to the previous question asked from the command line.")
@click.option("--session", help="A follow-up in this session (its id is printed with each answer, "
                                "also in the web UI).")
@click.option("--json", "as_json", is_flag=True, help="Print answer, sources and tokens as JSON.")
@click.pass_context
def ask_command(ctx, question, base_url, model, budget, save, follow_up, session, as_json):
    """Answer QUESTION from the wiki, citing the pages used as [[links]].

    Reads only what fits the ask budget (kbc.toml [ask] context_tokens, default 8000), which
    is the whole session's: a first question leaves room for one follow-up (its instructions,
    its answer and 1,000 tokens of new pages), so of 8000 it reads about 4,500.

    \b
    Example:
      kbc ask "How do Raft and Paxos differ?" --save
      kbc ask --continue "And which one does Chubby use?"
      kbc ask --session 3f2a9c1e "What else did that paper say?"
    """
    from kbc.ask import ASK_TEMPLATE, ask, save_answer
    from kbc.search import refresh_index

    vault = open_vault(ctx, base_url=base_url, model=model, budget=budget)
    llm = make_llm(vault, quiet=True)
    templates = templates_for(vault)
    answer = ask(vault, llm, templates, question, follow_up=follow_up, session=session)
    if save:
        answer.saved = save_answer(vault, answer, llm.model, templates.version(ASK_TEMPLATE))
        refresh_index(vault)
    if as_json:
        emit_json(answer.to_dict())
        return
    click.echo(answer.text)
    click.echo(f"\n({answer.prompt_tokens:,} prompt tokens, {answer.cached_tokens:,} cached, "
               f"{answer.completion_tokens:,} completion; session {answer.session}"
               + (f"; saved to {answer.saved}" if answer.saved else "") + ")", err=True)
