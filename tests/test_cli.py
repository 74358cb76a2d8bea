"""The thin CLI: init, config precedence and errors, stats."""
import json

from click.testing import CliRunner

from kbc.cli import cli
from kbc.vault import Vault, find_vault


def test_init_is_safe_to_rerun(tmp_path):
    runner = CliRunner()
    first = runner.invoke(cli, ["init", str(tmp_path / "v")])
    assert first.exit_code == 0 and "created" in first.output
    (tmp_path / "v" / "kbc.toml").write_text('[llm]\nmodel = "mine"\n')
    again = runner.invoke(cli, ["init", str(tmp_path / "v")])
    assert again.exit_code == 0 and "nothing to do" in again.output
    assert (tmp_path / "v" / "kbc.toml").read_text() == '[llm]\nmodel = "mine"\n'
    app = json.loads((tmp_path / "v" / ".obsidian" / "app.json").read_text())
    assert app["newLinkFormat"] == "shortest" and app["useMarkdownLinks"] is False


def test_vault_is_found_upward_like_git(vault_dir):
    deep = vault_dir / "wiki" / "a" / "b"
    deep.mkdir(parents=True)
    assert find_vault(deep) == vault_dir.resolve()


def test_config_precedence_flags_over_env_over_toml(vault_dir):
    (vault_dir / "kbc.toml").write_text('[llm]\nmodel = "from-toml"\nconcurrency = 2\n')
    assert Vault(vault_dir, env={}).settings.model == "from-toml"
    env = {"KBC_MODEL": "from-env"}
    assert Vault(vault_dir, env=env).settings.model == "from-env"
    assert Vault(vault_dir, env=env, overrides={"model": "from-flag"}).settings.model == "from-flag"
    assert Vault(vault_dir, env=env).settings.concurrency == 2


def test_bad_config_value_is_one_line_naming_the_key(vault_dir):
    (vault_dir / "kbc.toml").write_text('[llm]\nconcurrency = "many"\n')
    result = CliRunner().invoke(cli, ["--vault", str(vault_dir), "stats"])
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0
    assert "llm.concurrency" in result.output and "whole number" in result.output
    assert "Traceback" not in result.output


def test_no_vault_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KBC_VAULT", raising=False)
    result = CliRunner().invoke(cli, ["stats"])
    assert result.exit_code == 1 and "no kbc vault here" in result.output


def test_every_command_has_help_with_an_example():
    runner = CliRunner()
    for name in cli.commands:
        result = runner.invoke(cli, [name, "--help"])
        assert result.exit_code == 0, name
        assert "Example" in result.output, name


def test_stats_reports_per_stage_and_cost(sample_vault, env):
    (sample_vault / "kbc.toml").write_text(
        '[prices.scripted]\nprompt = 1.0\ncached = 0.5\ncompletion = 2.0\n')
    runner = CliRunner()
    assert runner.invoke(cli, ["compile"]).exit_code == 0
    result = runner.invoke(cli, ["stats", "--json"])
    data = json.loads(result.output)
    extract = data["stages"]["extract"]
    assert extract["requests"] == 3 and extract["prompt_tokens"] > 0
    assert data["total"]["cached_tokens"] > 0
    assert 0 < data["total"]["cache_hit_rate"] < 1
    expected = (data["total"]["prompt_tokens"] - data["total"]["cached_tokens"]) * 1.0 \
        + data["total"]["cached_tokens"] * 0.5 + data["total"]["completion_tokens"] * 2.0
    assert abs(data["total"]["cost"] - expected / 1e6) < 1e-6
    table = runner.invoke(cli, ["stats", "--since", "1h"])
    assert "extract" in table.output and "write" in table.output and "total" in table.output
