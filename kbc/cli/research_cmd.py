"""`kbc research`: a budgeted multi-step agent over the wiki, filing a cited report."""
from __future__ import annotations

import sys

import click

from kbc.cli import cli, emit_json, llm_options, make_llm, open_vault, templates_for


@cli.command(name="research")
@click.argument("question")
@llm_options
@click.option("--json", "as_json", is_flag=True, help="Print the plan, notes, steps and tokens as JSON.")
@click.pass_context
def research_command(ctx, question, base_url, model, budget, as_json):
    """Research QUESTION across the wiki within --budget tokens (default 40,000): plan
    sub-questions, search and read (the same retrieval as ask), note what the pages say,
    search again for what is missing, then write a cited report into wiki/outputs/.

    Sources the wiki lacks are suggested in the report, never fetched: add them with
    `kbc ingest URL` and `kbc compile`. Each step's tokens are in the report and `kbc stats`
    (stage research).

    \b
    Example:
      kbc research "How do Dynamo and Chubby each handle failures?" --budget 30000
    """
    from kbc.research import research
    from kbc.search import refresh_index

    from kbc.research import DEFAULT_BUDGET

    # The research budget is also the model layer's hard limit for this run.
    vault = open_vault(ctx, base_url=base_url, model=model, budget=budget)
    if not vault.settings.budget:
        vault.settings.budget = DEFAULT_BUDGET
    llm = make_llm(vault, quiet=True)
    show = sys.stderr.isatty() and not as_json

    def progress(step):
        if show:
            click.echo(f"  {step.kind}: {len(step.pages)} pages read, "
                       f"{step.prompt_tokens + step.completion_tokens:,} tokens", err=True)

    work = research(vault, llm, templates_for(vault), question, on_step=progress)
    refresh_index(vault)
    if as_json:
        emit_json(work.to_dict())
    else:
        click.echo("plan:\n" + "".join(f"  {n}. {s}\n" for n, s in enumerate(work.sub_questions, start=1)), nl=False)
        click.echo(f"read {len(work.read)} pages in {sum(s.kind == 'read' for s in work.steps)} rounds; "
                   f"{len(work.notes)} notes; stopped: {work.stopped}")
        for url in work.fetch:
            click.echo(f"suggested source (not fetched): {url}  -> kbc ingest {url}")
        click.echo(f"wrote {work.page}" if work.page else "no report: the wiki holds nothing on this question yet")
        click.echo(f"tokens: {work.tokens:,} of a {work.budget:,} budget")
    if not work.page:
        ctx.exit(1)
