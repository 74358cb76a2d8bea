"""Lint finds each planted fault, nothing in a clean wiki; --fix mends; deep lint reports a
planted contradiction with both sources."""
import json
import os
import time

import pytest
from click.testing import CliRunner

from kbc.cli import cli
from kbc.compile import EXTRACT_TEMPLATE, WRITE_TEMPLATE, compile_vault
from kbc.lint import Expectations, check, fix
from kbc.lint.deep import deep_lint
from kbc.vault.page_index import page_record
from tests.conftest import make_llm, open_vault, templates


@pytest.fixture
def compiled(sample_vault, server):
    vault = open_vault(sample_vault, server)
    compile_vault(vault, make_llm(vault, server), templates(vault))
    return vault


def expectations(vault):
    t = templates(vault)
    return Expectations({"concept": t.version(WRITE_TEMPLATE), "source-summary": t.version(EXTRACT_TEMPLATE)},
                        "scripted")


def found(vault):
    return {(p.check, p.page) for p in check(vault, expectations(vault))}


def test_a_compiled_wiki_lints_clean(compiled):
    assert check(compiled, expectations(compiled)) == []


def test_each_planted_fault_is_found(compiled):
    wiki = compiled.wiki_dir
    paxos = wiki / "concepts" / "Paxos.md"
    paxos.write_text(paxos.read_text().replace("# Paxos\n", "# Paxos\n\nSee [[Byzantine Paxos]] and ![[diagram.png]].\n"))
    (wiki / "concepts" / "Lonely.md").write_text("---\ntitle: Lonely\nkind: concept\n---\n\n# Lonely\n\nNobody links here.\n")
    (wiki / "concepts" / "Paxo.md").write_text("---\ntitle: Paxo\nkind: concept\n---\n\n# Paxo\n\nA typo twin of [[Paxos]].\n")
    (wiki / "concepts" / "Blank.md").write_text("---\ntitle: Blank\nkind: concept\n---\n\n# Blank\n")
    (wiki / "concepts" / "Cut.md").write_text("---\ntitle: Cut\nkind: concept\n---\n\n# Cut\n\n"
                                             "This article was cut off by the token limit in the middle of a long sentence about")
    (wiki / "concepts" / "Bad props.md").write_text("---\ntitle: Bad props\ntags: one tag\nalias: x\n---\n\n# Bad props\n\nText [[Paxos]].\n")
    (wiki / "concepts" / "Broken yaml.md").write_text("---\ntitle: [unclosed\n---\n\n# Broken\n\nText.\n")
    (compiled.raw_dir / "New note.md").write_text("# New note\n\nNot compiled yet.\n")
    raft = compiled.raw_dir / "Raft consensus.md"
    raft.write_text(raft.read_text() + "\nRaft has a joint consensus phase.\n")
    leases = wiki / "concepts" / "Chubby.md"
    leases.write_text(leases.read_text().replace("kbc_prompt: ", "kbc_prompt: old"))
    compiled.settings.index_max_tokens = 100
    problems = found(compiled)
    expected = {
        ("dangling-link", "Paxos"), ("missing-embed", "Paxos"), ("orphan-page", "Lonely"),
        ("empty-page", "Blank"), ("cut-off-page", "Cut"),
        ("invalid-front-matter", "Bad props"), ("invalid-front-matter", "Broken yaml"),
        ("source-without-summary", "New note"), ("stale-page", "Raft consensus (source)"),
        ("stale-page", "Chubby"), ("not-in-index", "Lonely"), ("index-too-large", "Index of concepts"),
    }
    assert expected <= problems, expected - problems
    assert {("duplicate-concept", "Paxo"), ("duplicate-concept", "Paxos")} & problems
    assert not {page for check_, page in problems if check_ == "cut-off-page"} - {"Cut"}


def test_a_broken_page_the_page_index_remembers_is_still_reported(compiled):
    broken = compiled.wiki_dir / "concepts" / "Broken yaml.md"
    broken.write_text("---\ntitle: [unclosed\n---\n\n# Broken\n\nText [[Paxos]].\n")
    past = time.time() - 60  # old enough for the index to remember it
    os.utime(broken, (past, past))
    assert not page_record(compiled, broken).readable
    assert ("invalid-front-matter", "Broken yaml") in found(compiled)


def test_fix_mends_what_code_can_and_spares_human_edits(compiled):
    wiki = compiled.wiki_dir
    raft = wiki / "concepts" / "Raft.md"
    human = raft.read_text().replace("# Raft\n", "# Raft\n\nMy note: see [[Nonexistent page]].\n")
    raft.write_text(human)  # a person's edit, with a dangling link kbc must not touch
    paxos = wiki / "concepts" / "Paxos.md"
    paxos.write_text(paxos.read_text().replace("tags:\n- concept\n", "tags: concept\n"))
    (wiki / "indexes" / "Index of concepts.md").unlink()
    fixed, left = fix(compiled, expectations(compiled))
    # the index page and the links to it are back; the tags are a list again
    assert {p.check for p in fixed} == {"invalid-front-matter", "not-in-index", "dangling-link"}
    assert raft.read_text() == human
    assert [(p.check, p.page) for p in left] == [("dangling-link", "Raft")]
    assert (wiki / "indexes" / "Index of concepts.md").exists()
    assert "tags:\n- concept\n" in paxos.read_text()


def test_cli_lint_json_and_exit_code(compiled, env):
    runner = CliRunner()
    clean = runner.invoke(cli, ["lint", "--json"])
    assert clean.exit_code == 0 and json.loads(clean.output)["problems"] == []
    (compiled.wiki_dir / "concepts" / "Lonely.md").write_text("---\ntitle: Lonely\nkind: concept\n---\n\n# Lonely\n\nText.\n")
    dirty = runner.invoke(cli, ["lint"])
    assert dirty.exit_code == 1 and "orphan-page: [[Lonely]]" in dirty.output


def test_deep_lint_reports_a_planted_contradiction_with_both_sources(vault_dir, server):
    (vault_dir / "raw" / "Paxos A.md").write_text("# Paxos A\n\nPaxos tolerates f failures with 2f+1 Acceptors.\n")
    (vault_dir / "raw" / "Paxos B.md").write_text("# Paxos B\n\nPaxos needs 3f+1 Acceptors to tolerate f failures.\n")
    vault = open_vault(vault_dir, server)
    llm = make_llm(vault, server)
    compile_vault(vault, llm, templates(vault))
    before = len(server.requests)
    concepts = sorted(row["name"] for row in vault.db["concepts"].rows)
    contradiction = {"claim_a": "Paxos tolerates f failures with 2f+1 Acceptors.", "source_a": 1,
                     "claim_b": "Paxos needs 3f+1 Acceptors to tolerate f failures.", "source_b": 2,
                     "explanation": "The sources disagree on how many acceptors Paxos needs."}
    server.script.append({"content": json.dumps({"concepts": [
        {"name": name, "contradictions": [contradiction] if name == "Paxos" else [], "unsupported": []}
        for name in concepts]})})
    report = deep_lint(vault, llm, templates(vault))
    assert report.checked == len(concepts) and len(report.contradictions) == 1
    assert len(server.requests) == before + 2  # every concept in one request, then the questions
    health = (vault.wiki_dir / "health.md").read_text()
    assert "2f+1" in health and "3f+1" in health
    assert "[[Paxos A (source)]]" in health and "[[Paxos B (source)]]" in health
    assert "[[Acceptors]]" in health or "[[Paxos]]" in health
    # nothing changed: the next deep lint sends no concept again
    sent = len(server.requests)
    again = deep_lint(vault, llm, templates(vault))
    assert again.checked == 0 and again.reused == report.checked + report.reused
    assert len(again.contradictions) == 1 and len(server.requests) == sent
    assert sent > before
