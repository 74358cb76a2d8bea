"""A no-change rerun sends nothing and rewrites nothing, on a vault big enough for names to
overlap across many notes (mention links, Related lists and backlinks all in play)."""
import random

from kbc.compile import compile_vault
from tests.conftest import make_llm, open_vault, templates

TERMS = ["Raft Consensus", "Paxos", "Leader Election", "Quorum", "Vector Clock", "Gossip Protocol",
         "Lamport", "Chubby", "Zookeeper", "Spanner", "Bigtable", "Dynamo", "Cassandra", "Kafka",
         "Leader", "Consensus", "Election", "Clock", "Replication Log", "Snapshot"]


def generated_notes(raw, count: int = 60) -> None:
    rng = random.Random(14)
    for i in range(count):
        lines = []
        for _ in range(4):
            a, b = rng.sample(TERMS, 2)
            lines.append(f"{a} works with {b} in system {i}; {rng.choice(TERMS)} is discussed again here.")
        (raw / f"note {i:02d}.md").write_text(f"# Note {i}\n\n" + "\n\n".join(lines) + "\n")


def snapshot(root) -> dict:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in (root / "wiki").rglob("*") if p.is_file()}


def test_a_no_change_rerun_sends_nothing_and_leaves_every_page_alone(vault_dir, server):
    generated_notes(vault_dir / "raw")
    vault = open_vault(vault_dir, server)
    first = compile_vault(vault, make_llm(vault, server), templates(vault))
    assert len(first.new) == 60 and not first.errors
    before, sent = snapshot(vault_dir), len(server.requests)
    assert sum(1 for k in before if k.startswith("wiki/concepts/")) >= 15
    vault = open_vault(vault_dir, server)
    second = compile_vault(vault, make_llm(vault, server), templates(vault))
    assert len(server.requests) == sent
    assert not second.written and not second.errors
    after = snapshot(vault_dir)
    assert sorted(after) == sorted(before)
    assert [k for k in before if before[k] != after[k]] == []


def test_a_source_that_explains_no_concept_is_compiled_once_not_retried(vault_dir, server):
    # A stub (a paywalled page, a cut-off clip): the model finds no concept in it.
    (vault_dir / "raw" / "stub.md").write_text("# stub\n\nsubscribe to read more of this article.\n")
    vault = open_vault(vault_dir, server)
    first = compile_vault(vault, make_llm(vault, server), templates(vault))
    assert first.new == ["raw/stub.md"] and not first.errors
    summaries = list((vault_dir / "wiki" / "sources").glob("*.md"))
    assert len(summaries) == 1 and not list((vault_dir / "wiki" / "concepts").glob("*.md"))
    sent = len(server.requests)
    vault = open_vault(vault_dir, server)
    second = compile_vault(vault, make_llm(vault, server), templates(vault))
    assert len(server.requests) == sent and not second.errors and second.unchanged == 1


def test_an_unusable_consolidation_answer_is_not_paid_for_again(sample_vault):
    from tests.scripted import ScriptedModel, ScriptedServer

    class Undecided(ScriptedModel):  # answers, but decides no pair: invalid even after the retry
        def answer_concept_decisions(self, prompt, body):
            return {"decisions": [], "renames": []}

    with ScriptedServer(Undecided()) as server:
        vault = open_vault(sample_vault, server)
        first = compile_vault(vault, make_llm(vault, server), templates(vault))
        asked = [r for r in server.requests if "concept_decisions" in str(r.get("response_format"))]
        assert asked and any("asked again when their sources change" in w for w in first.warnings)
        sent = len(server.requests)
        vault = open_vault(sample_vault, server)
        second = compile_vault(vault, make_llm(vault, server), templates(vault))
        assert len(server.requests) == sent and not second.errors


def test_whole_wiki_work_kept_between_runs_equals_the_work_done_from_scratch(vault_dir, server):
    # Mentions, links and Related lists are redone only where their inputs changed: after
    # notes are added, edited, renamed and removed, a run with that kept state emptied
    # (everything searched again) sends nothing and changes no file.
    raw = vault_dir / "raw"
    generated_notes(raw)
    vault = open_vault(vault_dir, server)
    compile_vault(vault, make_llm(vault, server), templates(vault))
    generated_notes(raw, 64)  # notes 60..63 are new
    (raw / "note 05.md").write_text("# Note 5\n\nGossip Protocol spreads news to Quorum members; "
                                    "Vector Clock orders the Gossip Protocol rounds in system 5.\n")
    # a new concept whose name the old pages hold ("in system 12"): linked there too
    (raw / "systems.md").write_text("# Systems\n\nSystem is the word for a set of machines.\n\n"
                                    "Every System here runs Paxos; a System fails as a whole.\n")
    (raw / "note 07.md").rename(raw / "note seven.md")
    (raw / "note 09.md").unlink()
    vault = open_vault(vault_dir, server)
    changed = compile_vault(vault, make_llm(vault, server), templates(vault))
    assert changed.new and changed.changed and changed.removed and changed.renamed and not changed.errors
    before, sent = snapshot(vault_dir), len(server.requests)
    with vault.db.conn:
        for table in ("concept_mentions", "mention_sources", "linked_pages", "link_terms", "graph_mentions",
                      "material_words"):
            vault.db.execute(f"delete from {table}")
    vault = open_vault(vault_dir, server)
    scratch = compile_vault(vault, make_llm(vault, server), templates(vault))
    assert len(server.requests) == sent and not scratch.written and not scratch.errors
    after = snapshot(vault_dir)
    assert sorted(after) == sorted(before)
    assert [k for k in before if before[k] != after[k]] == []
