"""kbc export finetune: grounded pairs only, split by concept, deduplicated, incremental, budgeted."""
import json

from click.testing import CliRunner

from kbc.cli import cli
from kbc.export.grounding import Sentence, check_pair


def _export(*args):
    result = CliRunner().invoke(cli, ["export", "finetune", "--json", *args])
    return result, (json.loads(result.stdout) if result.stdout.startswith("{") else None)


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_pairs_are_grounded_cited_split_by_concept_and_deduplicated(sample_vault, server, env):
    assert CliRunner().invoke(cli, ["compile"]).exit_code == 0
    result, report = _export()
    assert result.exit_code == 0, result.output
    out = sample_vault / "exports" / "finetune"
    train, heldout = _lines(out / "train.jsonl"), _lines(out / "heldout.jsonl")
    assert report["accepted"] > 0 and report["train"] == len(train) and report["heldout"] == len(heldout)
    # The scripted model makes one invented answer per concept and repeats each define.
    assert report["unsupported"] >= report["concepts"] and report["duplicates"] >= 1
    pages = {p.stem for p in (sample_vault / "wiki").rglob("*.md")}
    for example in train + heldout:
        user, assistant = example["messages"]
        assert user["role"] == "user" and assistant["role"] == "assistant"
        assert "Zorblax" not in assistant["content"] and "1887" not in assistant["content"]
        cited = assistant["content"].rsplit("\n\nSources: ", 1)[1].split(", ")
        assert cited and set(cited) <= pages
    manifest = json.loads((out / "manifest.json").read_text())
    held = set(report["heldout_concepts"])
    concepts_of = {p["question"]: set(p["concepts"]) for p in manifest["pairs"]}
    assert held and all(concepts_of[e["messages"][0]["content"]] <= held for e in heldout)
    assert all(not concepts_of[e["messages"][0]["content"]] & held for e in train)
    assert len(train) + len(heldout) + report["cross_split"] == len(manifest["pairs"])
    questions = [e["messages"][0]["content"].lower().strip(".?") for e in train + heldout]
    assert len(questions) == len(set(questions))
    assert any(r["reason"].startswith("only") for r in manifest["rejected"] if r["kind"] == "unsupported")
    card = (out / "card.md").read_text()
    assert f"{len(train)} train, {len(heldout)} held out" in card and "Model: scripted" in card
    assert report["card"]["tokens"]["requests"] == len(server.requests) - sum(
        1 for r in server.requests if "finetune_pairs" not in json.dumps(r.get("response_format")))


def test_a_rerun_sends_only_pages_that_changed(sample_vault, server, env):
    runner = CliRunner()
    assert runner.invoke(cli, ["compile"]).exit_code == 0
    _, first = _export()
    sent = len(server.requests)
    _, again = _export()
    assert len(server.requests) == sent and again["regenerated"] == [] and again["train"] == first["train"]
    note = sample_vault / "raw" / "Leases.md"
    note.write_text(note.read_text() + "\nFencing tokens stop a paused Holder from writing after its lease ends.\n")
    assert runner.invoke(cli, ["compile"]).exit_code == 0
    _, third = _export()
    assert "Fencing" in third["regenerated"] and 0 < len(third["regenerated"]) < len(first["regenerated"])
    assert third["reused"] == third["concepts"] - len(third["regenerated"])
    manifest = json.loads((sample_vault / "exports" / "finetune" / "manifest.json").read_text())
    assert any(p["concepts"][0] not in third["regenerated"] for p in manifest["pairs"])


def test_estimate_calls_nothing_and_budget_stops_resumably(sample_vault, server, env):
    runner = CliRunner()
    assert runner.invoke(cli, ["compile"]).exit_code == 0
    sent = len(server.requests)
    result, estimate = _export("--estimate")
    assert result.exit_code == 0 and len(server.requests) == sent
    assert estimate["estimate"]["requests"] >= 1 and estimate["estimate"]["prompt_tokens"] > 0
    result, stopped = _export("--budget", "50")
    assert result.exit_code == 3 and stopped["stopped"].startswith("token budget reached")
    result, resumed = _export()
    assert result.exit_code == 0 and resumed["accepted"] > 0
    text = runner.invoke(cli, ["export", "finetune", "--estimate"]).output
    assert "0 of" in text and "0 requests" in text


def _sentence(number, text, concept="Quorum"):
    return Sentence(number, concept, text, ["Replication (source)"])


def test_grounding_rejects_invented_numbers_and_sentences_no_claim_backs():
    names = {"Quorum": ["Quorum"]}
    evidence = [_sentence(1, "A quorum is a majority of the replicas, so any two quorums overlap.")]
    claims = {"Quorum": ["A quorum is a majority of replicas.", "Any two quorums overlap."]}
    assert check_pair("What is a quorum?", "A quorum is a majority of the replicas.", evidence, names, claims) == ("", "")
    kind, reason = check_pair("What is a quorum?", "A quorum is a majority of 5 replicas.", evidence, names, claims)
    assert kind == "unsupported" and "number 5" in reason
    kind, _ = check_pair("What is a quorum?", "A quorum elects the leader using fencing tokens.", evidence, names, claims)
    assert kind == "unsupported"
    unbacked = [_sentence(1, "Quorums were first used by the ancient Romans in their senate votes.")]
    kind, reason = check_pair("Who first used a quorum?", "Quorums were first used by the ancient Romans.",
                              unbacked, names, claims)
    assert kind == "unsupported" and "not backed" in reason
    assert check_pair("What is it about?", "A quorum is a majority of the replicas.", evidence, names, claims)[0] == "vague"
