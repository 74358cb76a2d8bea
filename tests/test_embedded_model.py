"""The real embedded model (llama.cpp + SmolLM2-135M), end to end. Slow: run alone with -m slow."""
import pytest
from click.testing import CliRunner

from kbc.cli import cli
from kbc.llm import LLM, LlamaCppBackend, Prompt, Request
from kbc.llm.ledger import usage_by_stage
from kbc.vault import Vault

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def backend():
    return LlamaCppBackend(context_window=4096)


def test_shared_prefix_is_reused_from_the_kv_cache(vault_dir, backend):
    vault = Vault(vault_dir, env={})
    llm = LLM(backend, vault.db, vault.db_lock)
    context = "Notes: Paxos lets unreliable processes agree on one value. " * 30
    system = ({"role": "system", "content": "Answer in one short sentence."},)
    first = llm.complete(Request("ask", Prompt(system, context, "What is Paxos?"), max_tokens=300))
    second = llm.complete(Request("ask", Prompt(system, context, "Who uses Paxos?"), max_tokens=300))
    assert first.text.strip() and second.text.strip()
    rows = list(vault.db.query("select * from requests order by id"))
    assert rows[0]["backend"] == "llama.cpp" and rows[0]["prompt_tokens"] > 300
    assert rows[1]["cached_tokens"] > 300  # the shared prefix was not evaluated again
    assert rows[1]["cached_tokens"] < rows[1]["prompt_tokens"]


def test_compile_runs_end_to_end_on_the_embedded_model(sample_vault, monkeypatch):
    for var in ("KBC_BASE_URL", "OPENAI_BASE_URL", "KBC_MODEL"):
        monkeypatch.delenv(var, raising=False)
    runner = CliRunner()
    result = runner.invoke(cli, ["--vault", str(sample_vault), "compile"])
    assert result.exit_code == 0, result.output
    wiki = sample_vault / "wiki"
    assert len(list((wiki / "sources").glob("*.md"))) == 3
    assert (wiki / "index.md").exists()
    usage = usage_by_stage(Vault(sample_vault, env={}).db)
    assert usage["total"]["prompt_tokens"] > 0 and usage["total"]["cached_tokens"] > 0
    assert usage["stages"]["extract"]["models"] == ["SmolLM2-135M-Instruct.Q4_1"]
    # nothing changed: no request at all
    again = runner.invoke(cli, ["--vault", str(sample_vault), "compile", "--json"])
    assert again.exit_code == 0
    assert '"requests": 0' in again.output
