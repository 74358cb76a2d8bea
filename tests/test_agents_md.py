"""AGENTS.md and CLAUDE.md from `kbc init`: written once, updated while untouched, a person's
edits (or a file that was there before) kept."""
from click.testing import CliRunner

from kbc.cli import cli
from kbc.vault import init_vault
from kbc.vault.agents import _marked, agents_text, write_agent_files


def test_init_writes_agents_md_covering_what_an_agent_needs(tmp_path):
    result = CliRunner().invoke(cli, ["init", str(tmp_path / "v")])
    assert result.exit_code == 0 and "AGENTS.md" in result.output and "CLAUDE.md" in result.output
    text = (tmp_path / "v" / "AGENTS.md").read_text()
    for needed in ("## Layout", "raw/", "wiki/concepts/", "## Page kinds", "source-summary", "aliases",
                   "## Links and citations", "[[Page name]]", "kbc: manual", "## What you must not do",
                   "kbc context", "## MCP tools", "compile_status"):
        assert needed in text, needed
    assert "AGENTS.md" in (tmp_path / "v" / "CLAUDE.md").read_text()


def test_rerun_changes_nothing_and_keeps_a_persons_edit(tmp_path):
    root = tmp_path / "v"
    init_vault(root)
    agents = root / "AGENTS.md"
    first = agents.read_text()
    assert init_vault(root) == [] and agents.read_text() == first
    edited = first.replace("## Layout", "## Layout\n\nOur lab keeps papers in raw/papers/.")
    agents.write_text(edited)
    (root / "CLAUDE.md").unlink()
    assert write_agent_files(root) == ["CLAUDE.md"]
    assert agents.read_text() == edited


def test_an_untouched_file_from_an_older_kbc_is_updated(tmp_path):
    root = tmp_path / "v"
    init_vault(root)
    agents = root / "AGENTS.md"
    # What an older kbc wrote: other text, with a marker that matches it.
    agents.write_text(_marked("# Old instructions\n"))
    assert write_agent_files(root) == ["AGENTS.md"]
    assert agents.read_text().startswith(agents_text())


def test_a_file_that_was_there_before_is_left_alone(tmp_path):
    root = tmp_path / "v"
    root.mkdir()
    (root / "AGENTS.md").write_text("# Our own agent rules\n")
    created = init_vault(root)
    assert "AGENTS.md" not in created and "CLAUDE.md" in created
    assert (root / "AGENTS.md").read_text() == "# Our own agent rules\n"
