"""Compile against the scripted server: links, incremental runs, deletions, human edits, resume."""
from pathlib import Path


from kbc.compile import CompileOptions, compile_vault
from kbc.compile.concepts import ConceptMatcher, concept_key
from kbc.vault.frontmatter import split
from kbc.vault.indexes import estimate_tokens
from kbc.vault.links import find_links, link_key
from tests.conftest import make_llm, open_vault, templates


def run(root, server, budget=0, **options):
    vault = open_vault(root, server)
    llm = make_llm(vault, server, budget=budget)
    report = compile_vault(vault, llm, templates(vault), CompileOptions(**options))
    return vault, llm, report


def dangling(vault):
    names = {link_key(n) for n in vault.note_names()}
    aliases = set(vault.page_aliases())
    missing = []
    for path in vault.wiki_pages().values():
        for link in find_links(path.read_text()):
            if not link.target:
                continue
            if link_key(link.target) not in names and link_key(link.target) not in aliases:
                missing.append((path.name, link.target))
    return missing


def concept_pages(vault):
    return sorted(p.stem for p in (vault.wiki_dir / "concepts").glob("*.md"))


def test_compile_writes_a_linked_wiki_and_a_rerun_costs_nothing(sample_vault, server):
    vault, llm, report = run(sample_vault, server)
    assert len(report.new) == 3 and not report.errors
    summaries = sorted(p.stem for p in (vault.wiki_dir / "sources").glob("*.md"))
    assert summaries == ["Leases (source)", "Paxos in brief (source)", "Raft consensus (source)"]
    assert "Paxos" in concept_pages(vault)
    assert dangling(vault) == []
    props, body = split((vault.wiki_dir / "concepts" / "Paxos.md").read_text())
    assert props["kind"] == "concept" and props["kbc_model"] == "scripted" and props["kbc_prompt"]
    assert "[[Paxos in brief (source)]]" in body and "## Backlinks" in body
    assert (vault.wiki_dir / "index.md").exists() and (vault.wiki_dir / "log.md").exists()
    # every paragraph cites a source page
    prose = body.split("## Related")[0].split("## Sources")[0].split("*\n\n", 1)[1]
    assert all("(source)]]" in paragraph for paragraph in prose.strip().split("\n\n"))
    sent = len(server.requests)
    assert sent <= 3 * 3  # at most 3 requests per source
    _, llm2, report2 = run(sample_vault, server)
    assert len(server.requests) == sent and llm2.totals.requests == 0
    assert report2.unchanged == 3 and not report2.written


def test_same_concept_from_several_sources_lands_on_one_page(sample_vault, server):
    vault, _, _ = run(sample_vault, server)
    keys = [concept_key(name) for name in concept_pages(vault)]
    assert len(keys) == len(set(keys))
    paxos_like = [name for name in concept_pages(vault) if concept_key(name) == concept_key("paxos")]
    assert paxos_like == ["Paxos"]
    props, _ = split((vault.wiki_dir / "concepts" / "Paxos.md").read_text())
    assert len(props["sources"]) == 3


def test_matcher_merges_name_variants():
    matcher = ConceptMatcher()
    matcher.add("consistent hashing", ["Consistent Hashing", "CH"])
    assert matcher.match(["consistent-hashing"]) == "consistent hashing"
    assert matcher.match(["The consistent hashing"]) == "consistent hashing"
    assert matcher.match(["Consistant hashing"]) == "consistent hashing"  # typo, fuzzy
    assert matcher.match(["CH"]) == "consistent hashing"
    assert matcher.match(["Chubby"]) is None


def test_changed_source_reruns_only_its_extraction_and_concepts(sample_vault, server):
    run(sample_vault, server)
    before = len(server.requests)
    note = sample_vault / "raw" / "Leases.md"
    note.write_text(note.read_text().replace("fixed time", "fixed time, often ten seconds"))
    _, llm, report = run(sample_vault, server)
    assert report.changed == ["raw/Leases.md"]
    new = server.requests[before:]
    extract = [r for r in new if "Known concepts" in r["messages"][-1]["content"]]
    assert len(extract) == 1 and 'Source "Leases"' in extract[0]["messages"][-1]["content"]
    assert llm.totals.requests == len(new) <= 3


def test_a_deleted_summary_page_is_written_again_without_a_request(sample_vault, server):
    vault, _, _ = run(sample_vault, server)
    page = vault.wiki_dir / "sources" / "Leases (source).md"
    text = page.read_text()
    page.unlink()
    sent = len(server.requests)
    _, llm, report = run(sample_vault, server)
    assert page.read_text() == text  # written from the stored extraction
    assert len(server.requests) == sent and llm.totals.requests == 0
    assert report.unchanged == 3 and not report.changed


def test_deleted_source_removes_its_pages_and_orphan_concepts(sample_vault, server):
    vault, _, _ = run(sample_vault, server)
    assert "Chubby" in concept_pages(vault)  # only the Leases note mentions Chubby
    (sample_vault / "raw" / "Leases.md").unlink()
    vault, _, report = run(sample_vault, server)
    assert report.removed == ["raw/Leases.md"]
    assert not (vault.wiki_dir / "sources" / "Leases (source).md").exists()
    assert "Chubby" not in concept_pages(vault)
    index = (vault.wiki_dir / "indexes" / "Index of concepts.md").read_text()
    assert "Chubby" not in index and "[[Paxos]]" in index
    props, _ = split((vault.wiki_dir / "concepts" / "Paxos.md").read_text())
    assert "[[Leases (source)]]" not in props["sources"]
    assert dangling(vault) == []


def test_human_edit_survives_and_update_is_proposed(sample_vault, server):
    vault, _, _ = run(sample_vault, server)
    page = vault.wiki_dir / "concepts" / "Paxos.md"
    edited = page.read_text().replace("# Paxos\n", "# Paxos\n\nMy own correction: Paxos is safe, not live.\n")
    page.write_text(edited)
    note = sample_vault / "raw" / "Paxos in brief.md"
    note.write_text(note.read_text().replace("Paxos is a consensus algorithm", "Paxos, which can livelock, is a consensus algorithm"))
    vault, _, report = run(sample_vault, server)
    assert page.read_text() == edited
    assert "Paxos" in report.kept_human
    proposal = vault.wiki_dir / "proposals" / "Paxos (proposed).md"
    assert proposal.exists()
    # the person's text was given to the model as text to keep
    assert any("My own correction" in r["messages"][-1]["content"] for r in server.requests)


def test_manual_pages_are_left_alone(sample_vault, server):
    vault, _, _ = run(sample_vault, server)
    page = vault.wiki_dir / "concepts" / "Raft.md"
    page.write_text("---\nkbc: manual\n---\n\n# Raft\n\nMine.\n")
    note = sample_vault / "raw" / "Raft consensus.md"
    note.write_text(note.read_text() + "\nRaft uses randomized timeouts.\n")
    run(sample_vault, server)
    assert page.read_text() == "---\nkbc: manual\n---\n\n# Raft\n\nMine.\n"


def test_cut_off_answer_never_lands(sample_vault, server):
    server.script.append({"content": '{"title": "Leases", "summ', "finish_reason": "length"})
    vault, _, report = run(sample_vault, server)
    assert any("cut off" in e for e in report.errors)
    summaries = list((vault.wiki_dir / "sources").glob("*.md"))
    assert len(summaries) == 2
    _, _, again = run(sample_vault, server)
    assert not again.errors and len(list((vault.wiki_dir / "sources").glob("*.md"))) == 3


def test_interrupted_run_resumes_paying_only_for_what_was_left(sample_vault, server):
    # A budget that covers extraction but not the articles stands in for a crash mid-run.
    vault, llm, report = run(sample_vault, server, budget=5000)
    assert report.stopped
    paid = llm.totals.tokens
    assert paid <= 5000
    first_pass = len(server.requests)
    vault, llm2, report2 = run(sample_vault, server)
    assert not report2.stopped and not report2.errors
    # nothing already paid for is sent again
    resent = [r for r in server.requests[first_pass:] if r in server.requests[:first_pass]]
    assert resent == []
    assert dangling(vault) == [] and "Paxos" in concept_pages(vault)


def test_template_change_marks_pages_stale_and_stale_rebuilds_them(sample_vault, server):
    run(sample_vault, server)
    custom = sample_vault / "templates" / "prompts"
    custom.mkdir(parents=True)
    source = Path(__file__).resolve().parents[1] / "templates" / "prompts" / "write.j2"
    (custom / "write.j2").write_text(source.read_text().replace("You write wiki articles", "You write short wiki articles"))
    before = len(server.requests)
    _, _, report = run(sample_vault, server)
    assert len(server.requests) == before
    assert "Paxos" in report.stale and "Leases (source)" not in report.stale
    vault, _, rebuilt = run(sample_vault, server, stale=True)
    assert len(server.requests) > before and "Paxos" in rebuilt.written
    _, _, after = run(sample_vault, server)
    assert after.stale == []


def test_indexes_split_by_category_then_alphabet_to_stay_under_the_limit(sample_vault, server):
    for n in range(12):
        (sample_vault / "raw" / f"Extra {n}.md").write_text(
            f"# Extra {n}\n\nTopic{chr(65 + n)}alpha is discussed here with Widget{chr(65 + n)}beta.\n")
    (sample_vault / "kbc.toml").write_text("[compile]\nindex_max_tokens = 300\n")
    vault, _, _ = run(sample_vault, server)
    index_dir = vault.wiki_dir / "indexes"
    top = (index_dir / "Index of concepts.md").read_text()
    categories = sorted(p.stem for p in index_dir.glob("Index of concepts (*).md"))
    assert categories == ["Index of concepts (other)", "Index of concepts (system)"]  # "idea" is no category
    assert all(f"[[{c}]]" in top for c in categories)
    for page in index_dir.glob("*.md"):
        assert estimate_tokens(page.read_text()) <= 300 + 80, page.name
    # every concept is reachable from the top index, through categories and parts
    reachable, visited, todo = set(), set(), ["Index of concepts"]
    while todo:
        page = todo.pop()
        visited.add(page)
        for link in find_links((index_dir / f"{page}.md").read_text()):
            if not link.target.startswith("Index of concepts"):
                reachable.add(link.target)
            elif link.target not in visited:
                todo.append(link.target)
    assert reachable == set(concept_pages(vault))
    assert dangling(vault) == []


def test_estimate_counts_without_calling_or_changing_anything(sample_vault, server):
    _, _, report = run(sample_vault, server, estimate=True)
    assert server.requests == []
    assert report.estimate["extract_requests"] == 3 and report.estimate["extract_prompt_tokens"] > 300
    vault, _, _ = run(sample_vault, server)
    (sample_vault / "raw" / "Leases.md").unlink()
    before = {p: p.read_text() for p in vault.wiki_dir.rglob("*.md")}
    _, _, estimate = run(sample_vault, server, estimate=True)
    assert estimate.removed == ["raw/Leases.md"]
    assert {p: p.read_text() for p in vault.wiki_dir.rglob("*.md")} == before


def test_long_source_is_split_not_truncated(vault_dir, server):
    (vault_dir / "kbc.toml").write_text("[llm]\ncontext_window = 1500\nmax_output_tokens = 300\n")
    lines = [f"Line {n} talks about Sharding and Replication in detail." for n in range(200)]
    (vault_dir / "raw" / "Long.md").write_text("# Long\n\n" + "\n".join(lines) + "\nThe last line mentions Quorum.\n")
    vault, _, report = run(vault_dir, server)
    extract = [r for r in server.requests if 'Source "Long"' in r["messages"][-1]["content"]]
    assert len(extract) > 2
    sent = "".join(r["messages"][-1]["content"] for r in extract)
    assert "Line 0 talks" in sent and "Line 199 talks" in sent and "The last line mentions Quorum" in sent
    assert not report.errors


def test_ctrl_c_mid_run_loses_nothing_already_paid_for(sample_vault, server):
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import endpoint_env

    server.delays["concept_articles"] = 3.0  # articles are slow: the interrupt lands there
    env = {**os.environ, **endpoint_env(server), "KBC_VAULT": str(sample_vault)}
    process = subprocess.Popen([sys.executable, "-m", "kbc", "compile"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(
            "concept_articles" in str(r.get("response_format")) for r in server.requests):
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130 and "interrupted; finished work is kept" in stderr
    assert "Traceback" not in stderr
    wiki = sample_vault / "wiki"
    assert not [p for p in wiki.rglob("*") if p.name.endswith(".tmp")]
    assert len(list((wiki / "sources").glob("*.md"))) == 3  # written as soon as extracted
    paid = len(server.requests)
    server.delays.clear()
    vault, llm, report = run(sample_vault, server)
    again = server.requests[paid:]
    assert not [r for r in again if "source_extraction" in str(r.get("response_format"))]
    assert not report.errors and "Paxos" in concept_pages(vault) and dangling(vault) == []


def test_an_unreachable_endpoint_stops_the_run_at_once(sample_vault, server):
    import socket

    from kbc.llm import LLM, OpenAIBackend

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    vault = open_vault(sample_vault, server)
    backend = OpenAIBackend(f"http://127.0.0.1:{port}/v1", "scripted", "x", max_retries=0)
    llm = LLM(backend, vault.db, vault.db_lock)
    report = compile_vault(vault, llm, templates(vault))
    assert "cannot reach the endpoint" in report.stopped and "rerun to resume" in report.stopped
    rows = list(vault.db.query("select * from requests"))
    assert len(rows) == 1 and rows[0]["finish_reason"] == "error"
