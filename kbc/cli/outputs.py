"""Commands that file outputs into the wiki: slides, charts, reports."""
from __future__ import annotations

import click

from kbc.cli import cli, emit_json, llm_options, make_llm, open_vault, templates_for
from kbc.errors import KbcError


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
