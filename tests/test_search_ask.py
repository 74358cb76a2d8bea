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


def test_words_the_wiki_has_as_written_are_kept_without_reading_its_vocabulary(wiki):
    searcher = Searcher(wiki)
    assert searcher.search("quorums overlap")[0].page == "Quorum"
    assert searcher._vocab is None  # every word was found as written: no vocabulary read
    # 'overlaps' shares its stem with 'overlap' but is not written anywhere: corrected as before
    assert searcher._terms("overlaps qourum") == ["overlap", "quorum"] and searcher._vocab


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


# -- context packs: what retrieval gives the model and agents ----------------------------------

LEASE_NOTE = """---
title: Lease notes
kind: note
---
# Lease notes

A lease is a lock with a time limit.
Chubby gives each client session a lease. The default extension is 12s. Clients renew it with KeepAlives.
Unrelated line about gardening and tomatoes in the summer.
"""


def page(vault_dir, folder, name, props, body):
    path = vault_dir / "wiki" / folder / f"{name}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"---\n{props}---\n\n{body}\n")


@pytest.fixture
def knowledge(vault_dir, server):
    (vault_dir / "raw" / "Lease notes.md").write_text(LEASE_NOTE)
    page(vault_dir, "sources", "Lease notes (source)", "title: Lease notes\nkind: source-summary\n"
         "source: '[[Lease notes]]'\n", "# Lease notes\n\nNotes on leases.\n\n## Concepts\n\n- [[Lease]]")
    page(vault_dir, "concepts", "Lease", "title: Lease\nkind: concept\naliases: [leases]\n"
         "sources: ['[[Lease notes (source)]]']\n",
         "# Lease\n\nA lease is a lock that expires unless renewed. ([[Lease notes (source)]])\n\n"
         "## Related\n\n- [[Chubby]]\n\n## Sources\n\n- [[Lease notes (source)]]: lines 3-4")
    page(vault_dir, "concepts", "Chubby", "title: Chubby\nkind: concept\nsources: ['[[Lease notes (source)]]']\n",
         "# Chubby\n\nChubby is a lock service; its sessions hold [[Lease|leases]]. ([[Lease notes (source)]])\n\n"
         "## Sources\n\n- [[Lease notes (source)]]: lines 4")
    page(vault_dir, "concepts", "Tomato", "title: Tomato\nkind: concept\n", "# Tomato\n\nA garden plant.")
    page(vault_dir, "answers", "How does Chubby use a lease", "title: How does Chubby use a lease?\n"
         "kind: answer\nsources: ['[[Lease]]']\n",
         "# How does Chubby use a lease?\n\nChubby uses a lease for every session; a lease is a lock. "
         "Chubby lease Chubby lease.")
    return open_vault(vault_dir, server)


def test_pack_reads_named_pages_whole_and_the_cited_source_sentences(knowledge):
    from kbc.llm.backends import estimate_tokens
    from kbc.search.context import build_context

    pack = build_context(knowledge, "How does Chubby use a lease?", 4000, estimate_tokens)
    names = pack.names()
    assert {"Chubby", "Lease"} <= set(names) and "Tomato" not in names
    lease = next(p for p in pack.pages if p.name == "Lease")
    # Whole: every paragraph, but not its Related and Sources lists (the header names those).
    assert lease.whole and "A lease is a lock" in lease.text and "## " not in lease.text
    assert lease.links == ["Chubby"] and lease.sources == ["Lease notes (source)"]
    assert "[[Chubby]]" in pack.render() and "Lease notes (source)" in pack.render()
    source = next(p for p in pack.pages if p.name == "Lease notes (source)")
    lines = {e.lines: e.text for e in source.excerpts}
    assert "The default extension is 12s." in lines["4"] and source.note == "raw/Lease notes.md"
    assert "tomatoes" not in pack.render()
    # A saved answer matches best but is only "see also".
    assert "How does Chubby use a lease" not in names and pack.see_also == ["How does Chubby use a lease"]


def test_pack_is_byte_stable_and_never_ends_a_block_on_a_heading(knowledge):
    from kbc.llm.backends import estimate_tokens
    from kbc.search.context import build_context

    one = build_context(knowledge, "lease session chubby", 3000, estimate_tokens).render()
    assert one == build_context(knowledge, "lease session chubby", 3000, estimate_tokens).render()
    small = build_context(knowledge, "lease session chubby", 250, estimate_tokens)
    assert small.pages and small.tokens <= 300
    for packed in small.pages:
        assert not packed.text.rstrip().splitlines()[-1:] or not packed.text.rstrip().splitlines()[-1].startswith("#")


def test_a_claim_lends_its_line_to_the_sentence_it_restates(knowledge):
    import re

    from kbc.search.claims import line_claims
    from kbc.search.excerpts import candidate_sentences
    from kbc.search.pageinfo import PageCache

    # What compile stores: a claim of Chubby's resting on line 4, worded as the wiki words it.
    with knowledge.db_lock, knowledge.db.conn:
        knowledge.db.execute("insert into concepts (key, name, page) values ('chubby', 'Chubby', 'Chubby')")
        knowledge.db.execute("insert into claims (source_path, concept_key, kind, text, lines) values "
                             "('raw/Lease notes.md', 'chubby', 'claim', 'By default a lease extension lasts 12s.', '4')")
    cache = PageCache(knowledge)
    cache.refresh()
    source = link_key("Lease notes (source)")
    terms = {"chubby": 1.0}

    def tokens(text):
        return re.findall(r"\w+", text.lower())

    def claims(notes):
        return line_claims(knowledge, {link_key(n): k for k, n in notes.items()}, terms, tokens, {"chubby": 1.0})

    def scores(with_claims):
        found = candidate_sentences(cache, [(1.0, {source: [(4, 4)]}, set())], terms, tokens,
                                    lambda t: set(tokens(t)), claims if with_claims else None)
        return {s.text: s.score for s in found}

    plain, bridged = scores(False), scores(True)
    # A page citing the line cannot tell its sentences apart; the claim can.
    assert plain["The default extension is 12s."] == plain["Clients renew it with KeepAlives."]
    assert bridged["The default extension is 12s."] > bridged["Clients renew it with KeepAlives."]
    # The same claim filed under a second concept it names (compile's naming claims) votes once.
    with knowledge.db_lock, knowledge.db.conn:
        knowledge.db.execute("insert into concepts (key, name, page) values ('lease', 'Lease', 'Lease')")
        knowledge.db.execute("insert into claims (source_path, concept_key, kind, text, lines) values "
                             "('raw/Lease notes.md', 'lease', 'claim', 'By default a lease extension lasts 12s.', '4')")
    assert scores(True) == bridged
    assert [len(v) for v in claims({source: "Lease notes"}).values()] == [1]
    # A sentence of a source the question is less about than another keeps only part of its score.
    (knowledge.root / "raw" / "Garden notes.md").write_text("---\ntitle: Garden notes\n---\nChubby tomatoes grow well in summer.\n")
    page(knowledge.root, "sources", "Garden notes (source)", "title: Garden notes\nkind: source-summary\n"
         "source: '[[Garden notes]]'\n", "# Garden notes\n\nTomatoes.")
    cache.refresh()
    garden = link_key("Garden notes (source)")

    def weighed(shares):
        found = candidate_sentences(cache, [(1.0, {source: [(4, 4)], garden: [(1, 1)]}, set())], terms, tokens,
                                    lambda t: set(tokens(t)), claims, shares)
        return {s.text: s.score for s in found}["Chubby tomatoes grow well in summer."]

    assert 0 < weighed({source: 1.0, garden: 0.2}) < weighed({source: 0.2, garden: 1.0})


def test_a_page_never_spends_the_room_on_its_link_lists(knowledge):
    from kbc.llm.backends import estimate_tokens
    from kbc.search.context import build_context

    related = "\n".join(f"- [[Chubby lease topic {n}]]" for n in range(120))
    page(knowledge.root, "concepts", "Lock Service", "title: Lock Service\nkind: concept\n",
         "# Lock Service\n\n*A service handing out locks.*\n\nChubby lock sessions are kept alive by a lease.\n\n"
         f"## Related\n\n{related}\n\n## Sources\n\n- [[Lease notes (source)]]: lines 4")
    # (a pack of 3K: a smaller one spends its first tokens on source lines, not page text)
    pack = build_context(knowledge, "lock service chubby lease", 3000, estimate_tokens)
    service = next(p for p in pack.pages if p.name == "Lock Service")
    # Whole without its 120 links (which alone would not fit the page's room)
    assert service.whole and "kept alive by a lease" in service.text and "A service handing out" in service.text
    assert "## Related" not in service.text and "## Sources" not in service.text


def test_an_answer_never_cites_a_saved_answer_as_a_source(knowledge, server):
    llm = make_llm(knowledge, server)
    server.script.append({"content": "Sessions hold leases [[Chubby]]; see [[How does Chubby use a lease]]."})
    answer = ask(knowledge, llm, templates(knowledge), "How does Chubby use a lease?")
    prompt = server.requests[-1]["messages"][-1]["content"]
    assert "=== How does Chubby use a lease ===" not in prompt and "See also: [[How does Chubby use a lease]]" in prompt
    assert answer.sources == ["Chubby"] and answer.see_also == ["How does Chubby use a lease"]
    answer.question = "Chubby sessions and leases"  # the earlier answer's page is not overwritten
    saved = save_answer(knowledge, answer, llm.model, "v1")
    text = (knowledge.root / saved).read_text()
    assert "'[[Chubby]]'" in text and "How does Chubby use a lease]]'" not in text.split("---")[1]


def test_context_command_text_and_json(knowledge, vault_dir, monkeypatch):
    monkeypatch.setenv("KBC_VAULT", str(vault_dir))
    runner = CliRunner()
    text = runner.invoke(cli, ["context", "How does Chubby use a lease?", "--budget", "3000"])
    assert text.exit_code == 0 and text.output.startswith("=== ") and "Links: [[" in text.output
    data = json.loads(runner.invoke(cli, ["context", "chubby lease", "--json"]).output)
    assert set(data) == {"query", "budget", "tokens", "pages", "see_also"}
    assert {"name", "kind", "path", "text", "links", "sources", "excerpts"} <= set(data["pages"][0])
    nothing = runner.invoke(cli, ["context", "zzzqqq"])
    assert nothing.exit_code == 1 and "nothing" in nothing.output


def test_sessions_of_the_cli_and_the_web_do_not_mix(knowledge, server):
    llm = make_llm(knowledge, server)
    t = templates(knowledge)
    cli_first = ask(knowledge, llm, t, "What is a lease?")
    web_first = ask(knowledge, llm, t, "What is Chubby?", origin="web")
    assert cli_first.session != web_first.session
    ask(knowledge, llm, t, "And who renews it?", follow_up=True)
    continued = server.requests[-1]["messages"]
    assert "What is a lease?" in continued[1]["content"] and "What is Chubby?" not in str(continued)
    again = ask(knowledge, llm, t, "Does it use Paxos?", session=web_first.session)
    assert again.session == web_first.session and "What is Chubby?" in server.requests[-1]["messages"][1]["content"]


def test_a_papers_bibliography_gives_no_sentences():
    from kbc.search.excerpts import note_sentences

    lines = ["Dynamo keeps writes available with sloppy quorums.", "", "Hinted handoff returns replicas later on.",
             "", "REFERENCES [1] Karger, D. Consistent hashing and random trees for relieving hot spots."]
    texts = [s.text for s in note_sentences("dynamo", lines)]
    assert texts == ["Dynamo keeps writes available with sloppy quorums.", "Hinted handoff returns replicas later on."]
    # Early on, "References" is an ordinary word (a table of contents, a sentence).
    assert len(note_sentences("x", ["References to leases are kept in one table here.", "", "More text follows here now."])) == 2


def long_topic(vault_dir, name: str, words: list[str]) -> None:
    """A concept citing every line of a note long enough to fill any pack (distinct sentences)."""
    lines = [f"A {name.lower()} {a} note says the {b} waits for the {c} before it {d}."
             for a in words for b in words for c in words[:4] for d in ("ends", "stops", "fails", "moves")]
    (vault_dir / "raw" / f"{name} notes.md").write_text(f"---\ntitle: {name} notes\nkind: note\n---\n"
                                                        + "\n".join(lines) + "\n")
    page(vault_dir, "sources", f"{name} notes (source)", f"title: {name} notes\nkind: source-summary\n"
         f"source: '[[{name} notes]]'\n", f"# {name} notes\n\nNotes.\n\n## Concepts\n\n- [[{name}]]")
    page(vault_dir, "concepts", name, f"title: {name}\nkind: concept\nsources: ['[[{name} notes (source)]]']\n",
         f"# {name}\n\nWhat a {name.lower()} is.\n\n## Sources\n\n- [[{name} notes (source)]]: lines 1-{len(lines) + 4}")


def test_a_first_question_leaves_a_follow_up_room_for_new_evidence(vault_dir, server):
    from kbc.ask import FOLLOW_UP_TOKENS
    long_topic(vault_dir, "Lease", ["clock", "renewal", "holder", "timeout", "grace", "expiry", "owner", "tick"])
    long_topic(vault_dir, "Quorum", ["vote", "majority", "member", "ballot", "round", "leader", "term", "peer"])
    vault = open_vault(vault_dir, server, ask_context_tokens=6000)
    llm = make_llm(vault, server)
    first = ask(vault, llm, templates(vault), "What does a lease holder wait for?")
    # Not all it could read (6000 less its instructions and answer, ~4.8K): a follow-up's share is left.
    assert 1000 < first.context_tokens < 6000 - 1024 - FOLLOW_UP_TOKENS - 1024
    second = ask(vault, llm, templates(vault), "And what does a quorum majority wait for?", follow_up=True)
    assert second.read and second.context_tokens >= FOLLOW_UP_TOKENS * 0.8 and second.prompt_tokens <= 6000


def test_a_follow_up_is_looked_up_with_the_question_it_follows(knowledge, server):
    from kbc.llm.backends import estimate_tokens
    from kbc.search.context import Retriever

    # Alone, the follow-up names nothing the wiki has; after a question on Chubby it reads the Chubby page.
    follow_up = "And why was that chosen?"
    assert "Chubby" not in Retriever(knowledge).pack(follow_up, 3000, estimate_tokens).names()
    assert "Chubby" in Retriever(knowledge).pack(follow_up, 3000, estimate_tokens,
                                                 follows="What is Chubby?").names()
    llm = make_llm(knowledge, server)
    first = ask(knowledge, llm, templates(knowledge), "What is a tomato?")
    second = ask(knowledge, llm, templates(knowledge), follow_up, follow_up=True)
    assert second.session == first.session
    from kbc.ask.sessions import latest_session
    assert latest_session(knowledge, "cli").questions == ["What is a tomato?", follow_up]


def test_see_also_lists_only_saved_answers_on_the_pages_the_question_reads(knowledge):
    from kbc.llm.backends import estimate_tokens
    from kbc.search.context import Retriever

    # Its words match ("lease", "lock") but it cites only Tomato: another subject.
    page(knowledge.root, "answers", "Are tomatoes a lease on summer", "title: Are tomatoes a lease on summer?\n"
         "kind: answer\nsources: ['[[Tomato]]']\n", "# Are tomatoes a lease on summer?\n\nA lease, a lock, "
         "a Chubby lease: no, a tomato is a garden plant. Chubby lease.")
    pack = Retriever(knowledge).pack("How does Chubby use a lease?", 4000, estimate_tokens)
    assert pack.see_also == ["How does Chubby use a lease"]


def test_an_answer_cites_only_pages_it_was_given(knowledge, server):
    # The model links Tomato (named in no page given): a link, not a source.
    server.script.append({"content": "A lease is a lock [[Lease]]; see [[Tomato]] too.", "finish_reason": "stop"})
    answer = ask(knowledge, make_llm(knowledge, server), templates(knowledge), "What is a lease?")
    assert "Tomato" not in answer.read and answer.sources == ["Lease"]
