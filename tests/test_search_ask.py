"""Search ranking, typos, freshness; ask within budget, closed-world links, save, follow-up."""
import json

import pytest
from click.testing import CliRunner

from kbc.ask import NOTHING_FOUND, ask, save_answer
from kbc.cli import cli
from kbc.compile import compile_vault
from kbc.search import Searcher
from kbc.vault.links import find_links, link_key
from tests.conftest import make_llm, open_vault, templates


def write(vault_dir, name, body, props="kind: concept\n"):
    path = vault_dir / "wiki" / "concepts" / f"{name}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"---\ntitle: {name}\n{props}---\n\n# {name}\n\n{body}\n")
    return path


@pytest.fixture
def wiki(vault_dir, server):
    write(vault_dir, "Quorum", "A quorum is a majority of replicas; any two quorums overlap.",
          "kind: concept\naliases: [majority set]\n")
    write(vault_dir, "Replication", "Copies of data on several machines. " * 20 +
          "Writes may wait for a quorum.")
    write(vault_dir, "Leases", "A lease is a lock with a time limit, renewed by its holder.")
    return open_vault(vault_dir, server)


def test_title_match_beats_a_passing_mention(wiki):
    hits = Searcher(wiki).search("quorum")
    assert [h.page for h in hits[:2]] == ["Quorum", "Replication"]
    assert "**quorum**" in hits[0].snippet.lower()


def test_alias_finds_the_page(wiki):
    assert Searcher(wiki).search("majority set")[0].page == "Quorum"


def test_typos_are_forgiven(wiki):
    assert Searcher(wiki).search("qourum")[0].page == "Quorum"
    assert Searcher(wiki).search("replicaton")[0].page == "Replication"


def test_a_page_edited_behind_kbcs_back_is_found(wiki, vault_dir):
    searcher = Searcher(wiki)
    assert searcher.search("fencing") == []
    write(vault_dir, "Leases", "A lease holder must use a fencing token after a pause.")
    assert searcher.search("fencing")[0].page == "Leases"


def test_search_cli_json_and_raw(wiki, vault_dir, monkeypatch):
    monkeypatch.setenv("KBC_VAULT", str(vault_dir))
    (vault_dir / "raw" / "note.md").write_text("# Note\n\nChubby hands out coarse-grained locks.\n")
    runner = CliRunner()
    hits = json.loads(runner.invoke(cli, ["search", "quorum", "--json", "-n", "1"]).output)
    assert len(hits) == 1 and set(hits[0]) == {"path", "page", "heading", "score", "snippet"}
    raw = json.loads(runner.invoke(cli, ["search", "--raw", "coarse", "--json"]).output)
    assert raw[0]["path"] == "raw/note.md"


def test_answer_cites_only_existing_pages_and_stays_in_budget(sample_vault, server):
    vault = open_vault(sample_vault, server)
    llm = make_llm(vault, server)
    compile_vault(vault, llm, templates(vault))
    server.script.append({"content": "Paxos and Raft both need a majority [[Paxos]] "
                                     "[[Raft consensus (source)]] [[Byzantine Generals]]."})
    answer = ask(vault, llm, templates(vault), "How do Paxos and Raft reach agreement?")
    names = {link_key(p.stem) for p in vault.wiki_pages().values()}
    links = [link.target for link in find_links(answer.text)]
    assert links and all(link_key(t) in names for t in links)
    assert "Byzantine Generals" in answer.text and "[[Byzantine Generals]]" not in answer.text
    assert 0 < answer.prompt_tokens <= 8000 and answer.read
    prompt = server.requests[-1]["messages"][-1]["content"]
    assert "=== Paxos ===" in prompt


def test_saved_answer_is_indexed_and_found_by_a_later_search(sample_vault, server):
    vault = open_vault(sample_vault, server)
    llm = make_llm(vault, server)
    compile_vault(vault, llm, templates(vault))
    answer = ask(vault, llm, templates(vault), "What do leases depend on?")
    saved = save_answer(vault, answer, llm.model, "v1")
    assert saved.startswith("wiki/answers/")
    assert "[[What do leases depend on]]" in (vault.wiki_dir / "indexes" / "Index of answers.md").read_text()
    hits = Searcher(vault).search("leases depend")
    assert hits[0].page == "What do leases depend on"


def test_nothing_found_means_no_request(vault_dir, server):
    vault = open_vault(vault_dir, server)
    answer = ask(vault, make_llm(vault, server), templates(vault), "What is a lease?")
    assert answer.text == NOTHING_FOUND and server.requests == []


def test_follow_up_reuses_the_previous_exchange_as_a_cached_prefix(sample_vault, server, env):
    runner = CliRunner()
    assert runner.invoke(cli, ["compile"]).exit_code == 0
    first = json.loads(runner.invoke(cli, ["ask", "--json", "What is Paxos?"]).output)
    second = json.loads(runner.invoke(cli, ["ask", "--json", "--continue", "Who described it?"]).output)
    one, two = server.requests[-2]["messages"], server.requests[-1]["messages"]
    assert two[: len(one)] == one
    assert two[len(one)]["role"] == "assistant"
    assert second["cached_tokens"] >= first["prompt_tokens"] - 64
    assert first["sources"] or first["read"]
