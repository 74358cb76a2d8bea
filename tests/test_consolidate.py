"""Concept identity across sources against the scripted server: merges keep every name and
old pages resolving, a person's kbc-merges.toml wins, "different" stays different, and the
graph links every concept page; plus compile's data-safety cases (issue 13)."""
import re

from kbc.compile import CompileOptions, compile_vault
from kbc.compile.manifest import Manifest
from kbc.compile.sync import explain
from kbc.lint import check
from kbc.vault.frontmatter import split
from kbc.vault.links import find_links
from tests.conftest import make_llm, open_vault, templates
from tests.scripted import ScriptedModel, ScriptedServer
from tests.test_compile import concept_pages, dangling

NOTES = {
    "Gilbert and Lynch": ("The CAP Theorem says a distributed store cannot be consistent, available and "
                          "partition tolerant at once.\nThe CAP Theorem was proved in 2002.\n"
                          "Raft elects a Leader for each term; the Leader owns the log.\n"),
    "Fox and Brewer": ("The CAP Principle trades consistency for availability during partitions.\n"
                       "A Paxos Leader is a distinguished proposer that makes progress possible.\n"
                       "Harvest and yield refine the CAP Principle for real systems.\n"),
}
CONCEPTS = {  # what the model extracts from each note: (name, definition, line)
    "Gilbert and Lynch": [("CAP Theorem", "A store cannot be consistent, available and partition tolerant.", 1),
                          ("Leader", "The server Raft elects for a term to own the log.", 3)],
    "Fox and Brewer": [("CAP Principle", "Consistency is traded for availability during partitions.", 3),
                       ("Leader", "A distinguished proposer of Paxos that makes progress possible.", 2),
                       ("Harvest and Yield", "Two measures that refine the CAP trade-off for real systems.", 3)],
}


class Model(ScriptedModel):
    """Extracts CONCEPTS; decides pairs with `decide(name_a, name_b)` and renames with `renames`."""

    def __init__(self, decide=None, renames=None):
        self.decide = decide or (lambda a, b: "different")
        self.renames = renames or {}
        self.asked: list[tuple[str, str]] = []

    def answer_source_extraction(self, prompt, body):
        title = re.search(r'Source "(.+?)"', prompt).group(1)
        lines = prompt.split(f'Source "{title}":', 1)[1].strip().split("\n")
        concepts = [{"name": name, "aliases": [], "category": "concept", "definition": definition,
                     "claims": [{"text": lines[line - 1].split("| ", 1)[1], "lines": str(line)}]}
                    for name, definition, line in CONCEPTS.get(title, [])]
        return {"title": title, "summary": f"A note by {title}.", "concepts": concepts}

    def answer_concept_decisions(self, prompt, body):
        lines = dict(re.findall(r"^(C\d+): (.+)$", prompt, re.M))
        names = {c: re.split(r" \(also:| \|", rest, maxsplit=1)[0] for c, rest in lines.items()}
        sources = {c: rest.split("| from: ", 1)[1].split(" |")[0] for c, rest in lines.items()}
        decisions = []
        for pair, a, b in re.findall(r"^(P\d+): (C\d+) / (C\d+)$", prompt, re.M):
            self.asked.append((names[a], names[b]))
            relation = self.decide(names[a], names[b])
            decisions.append({"pair": pair, "relation": relation,
                              "name": "CAP Theorem" if relation == "same" else ""})
        renames = [{"concept": c, "name": self.renames[(names[c], sources[c])]}
                   for c in lines if (names[c], sources[c]) in self.renames]
        return {"decisions": decisions, "renames": renames}


def cap_same(a, b):
    return "same" if {a, b} == {"CAP Theorem", "CAP Principle"} else "different"


def vault_with_notes(vault_dir):
    for title, text in NOTES.items():
        (vault_dir / "raw" / f"{title}.md").write_text(f"---\ntitle: {title}\n---\n{text}")
    return vault_dir


def compile_with(root, model, **options):
    with ScriptedServer(model) as server:
        vault = open_vault(root, server)
        report = compile_vault(vault, make_llm(vault, server), templates(vault), CompileOptions(**options))
        return vault, report, server.requests


def props_of(vault, page):
    return split((vault.wiki_dir / "concepts" / f"{page}.md").read_text())


def test_a_merge_keeps_every_name_and_is_reported_and_explained(vault_dir):
    root = vault_with_notes(vault_dir)
    vault, report, _ = compile_with(root, Model(cap_same))
    pages = concept_pages(vault)
    assert "CAP Theorem" in pages and "CAP Principle" not in pages
    props, body = props_of(vault, "CAP Theorem")
    assert props["aliases"] == ["CAP Principle"] and len(props["sources"]) == 2
    assert any("CAP Principle" in line and "[[CAP Theorem]]" in line for line in report.merged), report.merged
    lines = explain(Manifest(vault))
    assert any(line.startswith("same: CAP") for line in lines)
    assert dangling(vault) == [] and check(vault) == []


def test_one_word_two_senses_stays_apart_renamed_and_different_stays_different(vault_dir):
    root = vault_with_notes(vault_dir)
    renames = {("Leader", "Gilbert and Lynch"): "Raft Leader", ("Leader", "Fox and Brewer"): "Paxos Leader"}
    model = Model(cap_same, renames)
    vault, _, _ = compile_with(root, model)
    pages = concept_pages(vault)
    assert {"Raft Leader", "Paxos Leader"} <= set(pages) and "Leader" not in pages
    assert ("Leader", "Leader") in model.asked
    # A later run re-extracts a changed note: the pair decided "different" is not asked again.
    note = root / "raw" / "Fox and Brewer.md"
    note.write_text(note.read_text() + "Brewer later revisited the CAP Principle.\n")
    again = Model(lambda a, b: "same", renames)  # a model that would now merge them
    vault, _, _ = compile_with(root, again)
    assert ("Leader", "Leader") not in again.asked and ("Paxos Leader", "Raft Leader") not in again.asked
    assert {"Raft Leader", "Paxos Leader"} <= set(concept_pages(vault))


def test_a_person_forces_a_merge_and_the_old_page_redirects(vault_dir):
    root = vault_with_notes(vault_dir)
    vault, _, _ = compile_with(root, Model())  # the model keeps CAP Theorem and CAP Principle apart
    assert {"CAP Theorem", "CAP Principle"} <= set(concept_pages(vault))
    (root / "kbc-merges.toml").write_text('same = [["CAP Theorem", "CAP Principle"]]\n')
    vault, report, requests = compile_with(root, Model())
    assert not [r for r in requests if "concept_decisions" in str(r.get("response_format"))]
    assert report.merged
    redirect, body = props_of(vault, "CAP Principle")
    assert redirect["kind"] == "redirect" and "[[CAP Theorem]]" in body
    props, _ = props_of(vault, "CAP Theorem")
    assert "CAP Principle" in props["aliases"] and len(props["sources"]) == 2
    assert dangling(vault) == [] and check(vault) == []


def test_a_person_forbids_a_merge_and_it_is_never_asked(vault_dir):
    root = vault_with_notes(vault_dir)
    (root / "kbc-merges.toml").write_text('different = [["CAP Theorem", "CAP Principle"]]\n')
    model = Model(cap_same)
    vault, _, _ = compile_with(root, model)
    assert {"CAP Theorem", "CAP Principle"} <= set(concept_pages(vault))
    assert ("CAP Theorem", "CAP Principle") not in model.asked and ("CAP Principle", "CAP Theorem") not in model.asked
    assert check(vault) == []  # lint does not call them duplicates: a person kept them apart


def test_part_of_pages_link_each_other_and_no_concept_page_is_an_orphan(vault_dir):
    root = vault_with_notes(vault_dir)

    def decide(a, b):
        if {a, b} == {"Harvest and Yield", "CAP Principle"}:
            return "a_part_of_b" if a == "Harvest and Yield" else "b_part_of_a"
        return cap_same(a, b)

    vault, _, _ = compile_with(root, Model(decide))
    _, child = props_of(vault, "Harvest and Yield")
    _, parent = props_of(vault, "CAP Theorem")
    assert "- [[CAP Theorem]] (this is a part of it)" in child
    assert "- [[Harvest and Yield]] (a part of this)" in parent
    concept_links = {}
    for page in concept_pages(vault):
        _, body = props_of(vault, page)
        body = body.split("<!-- kbc:backlinks -->")[0]
        for link in find_links(body):
            concept_links.setdefault(link.target, set()).add(page)
    assert all(concept_links.get(page, set()) - {page} for page in concept_pages(vault))


def test_the_first_mention_of_a_concept_is_linked_in_kbc_pages(vault_dir):
    vault, _, _ = compile_with(vault_with_notes(vault_dir), Model(cap_same))
    _, body = props_of(vault, "Harvest and Yield")  # its claim names the CAP Principle
    prose = body.split("## ")[0]
    assert "[[CAP Theorem|CAP Principle]]" in prose and prose.count("[[CAP Theorem") == 1
    assert prose.startswith("# Harvest and Yield\n")  # headings are never linked


def test_an_unreadable_note_is_reported_and_its_pages_kept(sample_vault, server):
    vault = open_vault(sample_vault, server)
    compile_vault(vault, make_llm(vault, server), templates(vault))
    assert "Chubby" in concept_pages(vault)
    note = sample_vault / "raw" / "Leases.md"
    good = note.read_bytes()
    note.write_text("---\ntitle: [unclosed\n---\nA lease.\n")
    report = compile_vault(vault, make_llm(vault, server), templates(vault))
    assert any("Leases.md" in e and "kept" in e for e in report.errors)
    assert report.removed == [] and "Chubby" in concept_pages(vault)
    assert (vault.wiki_dir / "sources" / "Leases (source).md").exists()
    note.write_bytes(good.replace(b"Chubby", b"Chubby\xff"))  # not UTF-8
    report = compile_vault(vault, make_llm(vault, server), templates(vault))
    assert any("not UTF-8" in e for e in report.errors) and "Chubby" in concept_pages(vault)
    note.write_bytes(good)
    sent = len(server.requests)
    report = compile_vault(vault, make_llm(vault, server), templates(vault))
    assert not report.errors and report.unchanged == 3 and len(server.requests) == sent


def test_a_renamed_note_keeps_its_pages_and_a_persons_edit(sample_vault, server):
    vault = open_vault(sample_vault, server)
    compile_vault(vault, make_llm(vault, server), templates(vault))
    page = vault.wiki_dir / "concepts" / "Chubby.md"
    edited = page.read_text().replace("# Chubby\n", "# Chubby\n\nMy note on Chubby.\n")
    page.write_text(edited)
    (sample_vault / "raw" / "Leases.md").rename(sample_vault / "raw" / "Leases moved.md")
    sent = len(server.requests)
    report = compile_vault(vault, make_llm(vault, server), templates(vault))
    assert report.renamed == ["raw/Leases.md -> raw/Leases moved.md"] and not report.errors
    assert len(server.requests) == sent  # same text: nothing to ask
    assert page.read_text() == edited
    assert [p for p in concept_pages(vault) if p.startswith("Chubby")] == ["Chubby"]
    assert dangling(vault) == []
    # Moved again and changed: a new source to compile, and still no second Chubby page.
    again = sample_vault / "raw" / "Leases again.md"
    (sample_vault / "raw" / "Leases moved.md").rename(again)
    again.write_text(again.read_text() + "\nChubby leases last twelve seconds.\n")
    report = compile_vault(vault, make_llm(vault, server), templates(vault))
    assert not report.errors and page.read_text() == edited
    assert [p for p in concept_pages(vault) if p.startswith("Chubby")] == ["Chubby"]


def test_a_resumed_run_reuses_its_catalogue_and_pays_only_for_the_unanswered(sample_vault, server):
    vault = open_vault(sample_vault, server)
    compile_vault(vault, make_llm(vault, server), templates(vault))
    for n in range(3):
        (sample_vault / "raw" / f"Extra {n}.md").write_text(f"# Extra {n}\n\nQuorum{n} systems use Paxos.\n")
    first = len(server.requests)
    stopped = compile_vault(vault, make_llm(vault, server, budget=4000), templates(vault))
    assert stopped.stopped
    sent_then = server.requests[first:]
    assert sent_then  # at least one extraction was answered before the stop
    # Between the runs the catalogue the run started with would change (a note is removed).
    (sample_vault / "raw" / "Raft consensus.md").unlink()
    resumed = compile_vault(vault, make_llm(vault, server), templates(vault))
    assert not resumed.stopped and not resumed.errors
    again = server.requests[first + len(sent_then):]
    assert not [r for r in again if r in sent_then]
    known = {re.search(r"Known concepts:(.*?)\n\n", r["messages"][-1]["content"], re.S).group(1)
             for r in server.requests[first:] if "source_extraction" in str(r.get("response_format"))}
    assert len(known) == 1  # every extraction of the run saw the same catalogue


def test_a_bad_item_is_skipped_with_one_line_and_the_rest_goes_on(sample_vault, server):
    (sample_vault / "raw" / "Long title.md").write_text("---\ntitle: " + "Very long title " * 15 + "\n---\n"
                                                       "Sharding spreads Data over machines.\n")
    (sample_vault / "raw" / "Bad date.md").write_text("---\ntitle: Bad date\ncreated: 2024-13-45\n---\nText.\n")
    vault = open_vault(sample_vault, server)
    report = compile_vault(vault, make_llm(vault, server), templates(vault))
    names = [p.stem for p in (vault.wiki_dir / "sources").glob("*.md")]
    assert all(len(n) <= 130 for n in names) and "Long title.md" not in " ".join(report.errors)
    # The bad date is either read as text or reported in one line; the rest is compiled.
    assert len(names) + len([e for e in report.errors if "Bad date.md" in e]) == 5


def test_the_command_line_says_what_it_merged_and_explains_it(vault_dir, monkeypatch):
    from click.testing import CliRunner

    from kbc.cli import cli
    from tests.conftest import endpoint_env

    root = vault_with_notes(vault_dir)
    with ScriptedServer(Model(cap_same)) as server:
        for key, value in endpoint_env(server).items():
            monkeypatch.setenv(key, value)
        done = CliRunner().invoke(cli, ["--vault", str(root), "compile"])
        assert done.exit_code == 0, done.output
        assert "merged: CAP Principle (raw/Fox and Brewer.md) + CAP Theorem" in done.output
        sent = len(server.requests)
        explained = CliRunner().invoke(cli, ["--vault", str(root), "compile", "--explain"])
        assert explained.exit_code == 0 and len(server.requests) == sent
        assert "same: CAP" in explained.output and "(model)" in explained.output


def test_a_no_change_rerun_leaves_every_page_byte_identical(vault_dir):
    root = vault_with_notes(vault_dir)
    vault, _, _ = compile_with(root, Model(cap_same))
    before = {p: p.read_bytes() for p in vault.wiki_dir.rglob("*.md")}
    _, report, requests = compile_with(root, Model(cap_same))
    assert requests == [] and not report.written
    assert {p: p.read_bytes() for p in vault.wiki_dir.rglob("*.md")} == before


def test_estimate_counts_the_consolidation_a_first_compile_will_send(sample_vault, server):
    from tests.test_compile import run
    _, _, report = run(sample_vault, server, estimate=True)
    e = report.estimate
    assert server.requests == [] and e["consolidate_requests_about"] >= 1
    assert e["total_prompt_tokens_about"] == (e["extract_prompt_tokens"] + e["consolidate_prompt_tokens_about"]
                                              + e["write_prompt_tokens_about"])
    run(sample_vault, server)
    sent = [b for b in server.requests if b["response_format"]["json_schema"]["schema"]["title"] == "concept_decisions"]
    tokens = sum(len(m["content"]) for b in sent for m in b["messages"]) // 4
    assert len(sent) >= 1 and tokens / 3 <= e["consolidate_prompt_tokens_about"] <= tokens * 3
    _, _, again = run(sample_vault, server, estimate=True)  # nothing new: nothing to consolidate
    assert again.estimate["consolidate_requests_about"] == 0
