"""Structural invariants of a compiled wiki on real sources, with the fixture model (a real model's
extractions, a perfect consolidator): they must hold for any input. The figures themselves live in
benchmarks/wiki_quality.py."""
import json

import pytest

from benchmarks.corpus_vault import CORPUS, REPO, build_corpus_vault, compile_at
from benchmarks.wiki_graph import Wiki
from tests.fixture_data import NumberedText, line_set, norm
from tests.fixture_model import FixtureModel
from tests.scripted import ScriptedServer, text_of

pytestmark = pytest.mark.corpus


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """The repo's 3 sample notes and one paper, compiled, then compiled again unchanged."""
    sources = sorted((REPO / "raw").glob("*.md")) + [CORPUS / "papers" / "paxos-made-simple.pdf"]
    model = FixtureModel()
    with ScriptedServer(model) as server:
        root = build_corpus_vault(tmp_path_factory.mktemp("quality") / "vault", server, sources)
        first = list(server.requests)
        compile_at(root, server)
        rerun = server.requests[len(first):]
    return root, model, first, rerun


def test_every_link_lands_on_a_page_or_file(compiled):
    root, model, _, _ = compiled
    wiki = Wiki.read(root, model.fixtures)
    assert wiki.concepts(), "the compile wrote no concept page"
    assert wiki.dangling() == []


def test_every_concept_page_has_an_incoming_concept_link(compiled):
    root, model, _, _ = compiled
    wiki = Wiki.read(root, model.fixtures)
    edges = wiki.concept_edges()
    linked = {target for targets in edges.values() for target in targets}
    assert sorted(wiki.concepts()[k].name for k in edges if k not in linked) == []


def test_a_no_change_rerun_sends_nothing(compiled):
    _, _, first, rerun = compiled
    assert first and rerun == []


def test_fixture_extractions_cite_the_lines_their_quotes_sit_on(compiled):
    """Every source matched a fixture, and each claim's re-numbered lines start at its quote and
    hold it (a quote may be only the opening of the span the real model cited)."""
    _, model, first, _ = compiled
    assert model.unmatched_sources == []
    extractions = [b for b in first if b["response_format"]["json_schema"]["schema"]["title"] == "source_extraction"]
    assert len(extractions) >= 4
    checked = 0
    for body in extractions:
        prompt = text_of(body["messages"][-1])
        numbered = NumberedText.parse(prompt)
        quotes = {c["text"]: c["quote"] for f in model.fixtures.values() for k in f.concepts for c in k["claims"]}
        for concept in json.loads(model.answer(body))["concepts"]:
            for claim in concept["claims"]:
                span = numbered.find(quotes[claim["text"]])
                if span is None:
                    continue  # a quote the ingest renders differently: the fixture's own numbers stand
                cited = line_set(claim["lines"])
                assert min(cited) == span[0] and set(range(span[0], span[1] + 1)) <= cited
                checked += 1
    assert checked >= 20


def test_fixture_decisions_follow_the_gold_for_exactly_the_pairs_asked():
    model = FixtureModel()
    prompt = "\n".join([
        "Concepts:",
        "C1: Paxos (also: Synod Algorithm) | from: Paxos Made Simple | A consensus algorithm.",
        "C2: Paxos | from: Paxos in brief | A consensus algorithm for unreliable processes.",
        "C3: Leader | from: Paxos Made Simple | The distinguished proposer.",
        "C4: Leader | from: Raft consensus | The server elected per term.",
        "C5: Proposer | from: Paxos in brief | Picks a ballot number.",
        "Pairs:",
        "P1: C1 / C2",
        "P2: C3 / C4",
        "P3: C5 / C2",
    ])
    schema = {"title": "concept_decisions", "type": "object", "properties": {
        "decisions": {"type": "array", "items": {"type": "object", "properties": {
            "pair": {"type": "string"}, "relation": {"type": "string", "enum": [
                "same", "a_part_of_b", "b_part_of_a", "related", "different"]},
            "name": {"type": "string"}, "confidence": {"type": "number"}}}},
        "renames": {"type": "array", "items": {"type": "object", "properties": {
            "concept": {"type": "string"}, "name": {"type": "string"}}}}}}
    body = {"messages": [{"role": "user", "content": prompt}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}}
    answer = json.loads(model.answer(body))
    relations = {d["pair"]: d["relation"] for d in answer["decisions"]}
    assert relations == {"P1": "same", "P2": relations["P2"], "P3": "a_part_of_b"}
    assert relations["P2"] in ("related", "different")
    assert all("confidence" in d for d in answer["decisions"])  # unknown fields filled
    renames = {r["concept"]: r["name"] for r in answer["renames"]}
    assert renames == {"C3": "Paxos Leader (Distinguished Proposer)", "C4": "Raft Leader", "C5": "Paxos Proposer"}
    [asked] = model.consolidations
    assert asked.pairs == [("P1", "C1", "C2"), ("P2", "C3", "C4"), ("P3", "C5", "C2")]
    assert norm("Paxos Made Simple::Paxos") in {norm(i) for i in asked.concepts["C1"]}


def test_fixture_articles_use_all_evidence_and_link_listed_pages():
    prompt = "\n".join([
        "Existing pages:", "Paxos", "Raft", "Lease", "Leases (source)", "",
        "## Lease", "Also called: leases", "Related: Paxos, Raft",
        "Claims:", "- [1] A lease expires after a fixed time unless renewed.",
        "- [2] (lines 77, 98) A leader elected by Raft often holds a lease.",
        "- [3] Chubby grants leases to its clients.", "",
        "Sources:", "[1] Leases (source)", "[2] Raft consensus (source)", "[3] Chubby (source)"])
    schema = {"title": "concept_articles", "type": "object", "properties": {"articles": {
        "type": "array", "items": {"type": "object", "properties": {
            "name": {"type": "string"}, "agreement": {"type": "string"},
            "paragraphs": {"type": "array", "maxItems": 2, "items": {"type": "object", "properties": {
                "text": {"type": "string"}, "sources": {"type": "array", "items": {"type": "integer"}}}}}}}}}}
    body = {"messages": [{"role": "user", "content": prompt}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}}
    [article] = json.loads(FixtureModel().answer(body))["articles"]
    assert article["name"] == "Lease" and "agreement" in article
    assert len(article["paragraphs"]) == 2  # three sources folded into the two paragraphs allowed
    assert sorted(n for p in article["paragraphs"] for n in p["sources"]) == [1, 2, 3]
    text = " ".join(p["text"] for p in article["paragraphs"])
    assert "[[Raft]]" in text and "[[Lease" not in text and "lines 77" not in text


def test_the_fixture_model_records_each_evidence_line_with_its_source_and_list(compiled):
    """What benchmarks/mention_quality.py judges: every evidence line of every write request,
    under the list it came in, with the page name its source number stands for."""
    root, model, _, _ = compiled
    assert model.evidence, "no write request was seen"
    summaries = {p.stem for p in (root / "wiki" / "sources").glob("*.md")}
    assert all(e.source in summaries for e in model.evidence)
    assert {e.heading for e in model.evidence if not e.mention} <= {"Claims", "Claims new since the current article"}
    assert any(e.heading == "Claims" for e in model.evidence)
