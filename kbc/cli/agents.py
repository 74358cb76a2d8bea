"""Commands for agents: a context pack to paste, and the wiki as an MCP server."""
from __future__ import annotations

import click

from kbc.cli import cli, emit_json, make_llm, open_vault


@cli.command(name="context")
@click.argument("query")
@click.option("--budget", default=4000, show_default=True, type=click.IntRange(200, 200_000),
              help="Tokens the pack may take.")
@click.option("--json", "as_json", is_flag=True, help="Print pages, links, citations and excerpts as JSON.")
@click.pass_context
def context_command(ctx, query, budget, as_json):
    """Print the context pack for QUERY: the wiki pages that matter (whole when they fit),
    with their links, citations and the cited source lines, for an agent to paste instead
    of reading files; a pack of 1,500 tokens or less gives source lines and names the pages.
    [S1] stands for the source named on its block. Needs no model. Same wiki and query give
    the same bytes.

    \b
    Example:
      kbc context "How does Chubby use leases?" --budget 3000
      kbc context "consistent hashing" --json | jq '.pages[].name'
    """
    from kbc.llm.backends import estimate_tokens
    from kbc.search.context import build_context

    vault = open_vault(ctx)
    pack = build_context(vault, query, budget, estimate_tokens)
    if as_json:
        emit_json(pack.to_dict())
    elif not pack.pages:
        click.echo("The wiki holds nothing on this yet.", err=True)
        ctx.exit(1)
    else:
        click.echo(pack.render(), nl=False)


@cli.command(name="mcp")
@click.pass_context
def mcp_command(ctx):
    """Serve the vault to an agent over the Model Context Protocol (stdio).

    Tools: search, read_page, context, ask, list_concepts, list_sources, ingest,
    compile_status. Register it with an MCP client as the command `kbc mcp` with
    KBC_VAULT set to the vault (see the README for a JSON snippet).

    \b
    Example:
      KBC_VAULT=~/research kbc mcp
    """
    from kbc.mcp import serve_stdio

    vault = open_vault(ctx)
    # The model (the embedded one loads slowly) is made on the first `ask`, not at start.
    serve_stdio(vault, lambda: make_llm(vault, quiet=True))
