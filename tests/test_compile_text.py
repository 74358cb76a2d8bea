"""What lands in a page reads right on its own: sentence-safe cuts, no request-local source
numbers, fixed categories, mentions linked once and never in headings, code or links."""
from kbc.compile.articles import clean_paragraph
from kbc.compile.extract import concepts_wanted
from kbc.compile.names import category
from kbc.vault.autolink import MentionLinker
from kbc.vault.text import clip, first_sentence


def test_descriptions_never_stop_at_an_abbreviation_or_mid_word():
    assert first_sentence("Written by Fred B. Schneider et al. in 1990. It is short.") == \
        "Written by Fred B. Schneider et al. in 1990."
    assert first_sentence("Systems, e.g. Chubby, use leases. More.") == "Systems, e.g. Chubby, use leases."
    cut = clip("Consensus " * 40, 60)
    assert cut.endswith("…") and len(cut) <= 60 and cut[:-1].split()[-1] == "Consensus"


def test_request_local_source_numbers_never_reach_a_page():
    numbered = ["Paxos Made Simple (source)", "Raft consensus (source)"]
    text = clean_paragraph("According to [1], a value is chosen [2]. Raft differs [1, 2].", numbered, False, [])
    assert text == "According to [[Paxos Made Simple (source)]], a value is chosen. Raft differs."
    merged = clean_paragraph("The author recommends leases.", numbered, True, ["Raft consensus (source)"])
    assert merged == "The author of Raft consensus recommends leases."


def test_categories_come_from_one_list_and_longer_sources_are_asked_for_more_concepts():
    assert category("Algorithms") == "algorithm" and category("mechanism") == "other"
    assert concepts_wanted(300, 3000) == 8 < concepts_wanted(9000, 3000) <= concepts_wanted(40000, 8000) == 24


def test_the_first_mention_is_linked_outside_code_headings_and_links():
    linker = MentionLinker({"Vector Clock": ["vector clocks"], "Raft Leader": [], "Paxos Leader": ["Leader"],
                            "Other Leader": ["Leader"]})
    body = ("# Vector Clock notes\n\nUse `vector clock` here; Vector clocks order events. A vector clock again.\n"
            "The leader and the Raft leaders.\n\n```\nvector clock\n```\n\n## Sources\n\n- Vector Clock\n")
    out = linker.link(body, "Dynamo")
    assert out.startswith("# Vector Clock notes\n")
    assert "`vector clock`" in out and "[[Vector Clock|Vector clocks]] order events. A vector clock again." in out
    assert "[[Raft Leader|Raft leaders]]" in out and "The leader and" in out  # "Leader" names two pages
    assert out.endswith("```\nvector clock\n```\n\n## Sources\n\n- Vector Clock\n")


def test_a_one_word_alias_that_ends_a_name_is_never_linked():
    # a real model gave Raft Leader the alias "leader"; a Paxos page's "the leader" is not Raft's
    linker = MentionLinker({"Raft Leader": ["leader"], "Paxos Leader": [], "Raft Term": ["term"], "Lease": ["leases"],
                            "Majority Quorum": ["majority"]})
    out = linker.link("The leader sends accept requests; each term has a majority, one leader and leases.\n", "Paxos")
    assert "[[Raft" not in out and "[[Majority" not in out and "[[Lease|leases]]" in out  # generic aliases: no links
    assert "[[Raft Term|Raft term]]" in linker.link("A Raft term has at most one leader.\n", "Paxos")


def test_other_sources_count_as_evidence_only_where_they_name_the_concept():
    from kbc.compile.evidence import mentions
    from kbc.compile.identity import _bare_names, qualifiers
    from kbc.compile.rows import Concept
    from kbc.compile.sources import Source

    leader = Concept("raft leader", "Raft Leader", [], "", "role", "Raft Leader",
                     link_names=["Raft Leader"], qualified=[("Leader", qualifiers("Raft Leader", "Leader"))])
    approach = Concept("sma", "State Machine Approach", [], "", "technique", "State Machine Approach",
                       link_names=["State Machine Approach"])
    _bare_names(approach)
    notes = [Source("raw/a.md", "A", "Intro.\nA leader elected by Raft holds a lease.\n", "1"),
             Source("raw/b.md", "B", "The leader of the orchestra bowed.\nA second leader.\n", "2"),
             Source("raw/c.md", "C", "Each replica runs a replicated state machine.\n", "3")]
    pages = {"raw/a.md": "A (source)", "raw/b.md": "B (source)", "raw/c.md": "C (source)"}
    found = mentions(leader, notes, pages, set())
    assert [(e.source_page, e.lines) for e in found] == [("A (source)", "2")]  # "leader" next to "Raft" only
    assert [e.source_page for e in mentions(approach, notes, pages, set())] == ["C (source)"]


def test_a_one_word_alias_that_ends_the_name_counts_only_next_to_the_rest_of_it():
    from kbc.compile.evidence import mentions
    from kbc.compile.identity import Overrides, build
    from kbc.compile.rows import Member
    from kbc.compile.sources import Source

    member = Member("raw/raft.md::raft leader", "raw/raft.md", "Raft Leader", ["leader", "Raft's leader"], "", "role")
    quorum = Member("raw/raft.md::majority quorum", "raw/raft.md", "Majority Quorum", ["majority"], "", "concept")
    paxos = Member("raw/p.md::paxos consensus algorithm", "raw/p.md", "Paxos Consensus Algorithm", ["Paxos"], "", "x")
    concepts = build([member, quorum, paxos], [], Overrides(), {}).concepts
    leader = concepts["raft leader"]
    assert "leader" not in leader.link_names and "Raft's leader" in leader.link_names
    assert concepts["majority quorum"].link_names == ["Majority Quorum"]
    assert "Paxos" in concepts["paxos consensus algorithm"].link_names
    notes = [Source("raw/paxos.md", "Paxos", "The leader sends accept requests.\n", "1"),
             Source("raw/etcd.md", "etcd", "etcd runs Raft, and its leader replicates the log to every follower.\n", "2")]
    found = mentions(leader, notes, {"raw/paxos.md": "Paxos (source)", "raw/etcd.md": "etcd (source)"}, set())
    assert [e.source_page for e in found] == ["etcd (source)"]


def test_claims_the_source_does_not_carry_are_dropped_at_extraction():
    from kbc.compile.extract import members_of
    from kbc.compile.sources import Source

    source = Source("raw/leases.md", "Leases", "A lease is a lock that expires after a fixed time unless "
                    "it is renewed.\nChubby grants leases to clients so a crashed client cannot hold a lock.\n", "x")
    data = {"title": "Leases", "summary": "Leases.", "concepts": [{
        "name": "Lease", "aliases": [], "category": "mechanism", "definition": "A lock that expires.",
        "claims": [
            {"text": "A lease expires after a fixed time unless the holder renews it", "lines": "1"},
            {"text": "Chubby grants leases so that a crashed client cannot hold a lock forever.", "lines": "2"},
            # what a tiny model writes: a loop, and an invented name
            {"text": "This is a consensus algorithm designed to be easier to understand than a "
                     "consensus algorithm designed to be easier to", "lines": "1"},
            {"text": "Leases are granted by Zookeeper to every client.", "lines": "2"},
        ]}]}
    members, claims = members_of(source, data)
    kept = [c.text for c in claims if c.kind == "claim"]
    assert len(members) == 1 and len(kept) == 2 and all("Zookeeper" not in t and "algorithm" not in t for t in kept)


def test_a_claim_filed_under_one_concept_and_naming_another_is_that_ones_too():
    """A real model filed Tim Cook's own words under Apple Inc.: his page lacked them."""
    from kbc.compile.extract import NAMING_CLAIMS, members_of
    from kbc.compile.sources import Source

    lines = ["Tim Cook spoke at Dreamforce.", "Cook said Apple was pulled into the enterprise by its users.",
             "Apple sells phones to businesses.", "Tim Cook thanked Marc Benioff for the invitation."]
    source = Source("raw/cook.md", "Tim Cook at Dreamforce", "\n".join(lines) + "\n", "x")
    data = {"title": "Tim Cook at Dreamforce", "summary": "A talk.", "concepts": [
        {"name": "Apple Inc.", "aliases": ["Apple"], "category": "organization", "definition": "A company.",
         "claims": [{"text": "Tim Cook said Apple was pulled into the enterprise by its users.", "lines": "2"},
                    {"text": "Apple sells phones to businesses.", "lines": "3"}]},
        {"name": "Tim Cook", "aliases": ["Cook"], "category": "person", "definition": "Apple's chief executive.",
         "claims": [{"text": "Tim Cook thanked Marc Benioff for the invitation.", "lines": "4"}]}]}
    _, claims = members_of(source, data)
    by_member = {}
    for claim in claims:
        by_member.setdefault(claim.member.split("::")[1], []).append((claim.kind, claim.text, claim.lines))
    assert by_member["tim cook"] == [
        ("definition", "Apple's chief executive.", ""),
        ("claim", "Tim Cook thanked Marc Benioff for the invitation.", "4"),
        ("claim", "Tim Cook said Apple was pulled into the enterprise by its users.", "2")]
    # Tim Cook's one claim does not name Apple: Apple's page gets nothing more.
    assert [t for _, t, _ in by_member["apple inc"]] == [
        "A company.", "Tim Cook said Apple was pulled into the enterprise by its users.",
        "Apple sells phones to businesses."]
    # Bounded: a concept named in every claim of a long source gets only a few of them.
    said = [f"Tim Cook praised the {a} {b} of {c} at the keynote." for a, b, c in zip(
        ["quiet", "bold", "swift", "humble", "vivid", "steady", "clever"],
        ["design", "pricing", "support", "privacy", "battery", "camera", "display"],
        ["phones", "laptops", "watches", "tablets", "servers", "speakers", "headsets"])]
    # ...and one that says again what another said: it adds nothing, so it is not taken
    said.insert(1, "Tim Cook praised the quiet design of phones at the keynote again.")
    many = dict(data, concepts=[dict(data["concepts"][0], claims=[{"text": t, "lines": "2"} for t in said]),
                                data["concepts"][1]])
    _, claims = members_of(Source("raw/cook.md", "Tim Cook at Dreamforce", "\n".join(lines + said) + "\n", "x"), many)
    taken = [c.text for c in claims if c.member.endswith("::tim cook") and c.kind == "claim"][1:]
    assert taken == [said[0]] + said[2:1 + NAMING_CLAIMS]


def test_a_claim_may_use_what_the_prompt_said_about_its_source():
    """The author, site and date the extract prompt gives ("About the source") ground a claim
    as the lines do (a real model dated a Dreamforce talk from them); an invented one does not."""
    from kbc.compile.extract import members_of
    from kbc.compile.sources import Source

    source = Source("raw/cook.md", "Tim Cook at Dreamforce", "Tim Cook spoke at Dreamforce.\n"
                    "Benioff hosted the talk.\n", "x", kind="web", authors=["Joseph Tsidulko"],
                    site="CRN", published="2019-11-19")
    data = {"title": "Tim Cook at Dreamforce", "summary": "A talk.", "concepts": [{
        "name": "Dreamforce", "aliases": [], "category": "event", "definition": "A conference.",
        "claims": [{"text": "Dreamforce 2019 hosted a talk by Tim Cook, as CRN reported.", "lines": "1"},
                   {"text": "Dreamforce 2021 hosted a talk by Tim Cook, as Reuters reported.", "lines": "1"}]}]}
    _, claims = members_of(source, data)
    assert [c.text for c in claims if c.kind == "claim"] == ["Dreamforce 2019 hosted a talk by Tim Cook, as CRN reported."]


def test_a_looping_definition_is_no_definition():
    from kbc.compile.extract import members_of
    from kbc.compile.sources import Source

    source = Source("raw/n.md", "N", "Paxos is used in many applications.\n", "x")
    loop = "A concept used in applications, but is also used in a variety of other applications, " * 3
    members, claims = members_of(source, {"title": "N", "summary": "N.", "concepts": [
        {"name": "Paxos", "aliases": [], "category": "algorithm", "definition": loop, "claims": []}]})
    assert members[0].definition == "" and not [c for c in claims if c.kind == "definition"]


def test_names_copied_with_the_notes_markup_become_plain_names():
    from kbc.compile.extract import members_of
    from kbc.compile.sources import Source

    source = Source("raw/raft.md", "Raft", "# Raft consensus\n\nRaft elects a leader by majority vote.\n", "x")
    members, _ = members_of(source, {"title": "Raft", "summary": "Raft.", "concepts": [
        {"name": "# Raft consensus", "aliases": ["**Raft**", "[[Raft consensus]]", "`__init__`"],
         "category": "algorithm", "definition": "A consensus algorithm.", "claims": []}]})
    assert members[0].name == "Raft consensus" and members[0].aliases == ["__init__", "Raft"]


def test_a_name_kept_as_another_concepts_alias_counts_for_its_own_concept_only():
    from kbc.compile.identity import Overrides, build
    from kbc.compile.rows import Decision, Member

    brief = Member("raw/brief.md::paxos algorithm", "raw/brief.md", "Paxos Algorithm", [], "", "algorithm", seq=2)
    basic = Member("raw/pms.md::paxos consensus algorithm", "raw/pms.md", "Paxos Consensus Algorithm", [], "",
                   "algorithm", seq=1)
    whole = Member("raw/pms.md::paxos algorithm", "raw/pms.md", "Paxos Algorithm", [], "", "algorithm", seq=0)
    concepts = build([whole, basic, brief], [Decision(basic.id, brief.id, "same", "")], Overrides(), {}).concepts
    merged = next(c for c in concepts.values() if c.name == "Paxos Consensus Algorithm")
    assert "Paxos Algorithm" in merged.aliases and "Paxos Algorithm" not in merged.link_names
    assert any(c.name == "Paxos Algorithm" and "Paxos Algorithm" in c.link_names for c in concepts.values())


def test_a_model_is_not_sent_style_blocks_or_pdf_page_numbers():
    from kbc.compile.sources import numbered_lines

    body = ("<style>\n.post h1 {\n  font-size: 35px;\n}\n</style>\n\nThe 1989 network.\n\n<!-- page 1 -->\n\n"
            "Paxos Made Simple\n\n1\n\n<!-- page 2 -->\n\nA value is chosen.\n12 nodes\n\n2\n")
    assert numbered_lines(body) == ["7| The 1989 network.", "9| <!-- page 1 -->", "11| Paxos Made Simple",
                                    "15| <!-- page 2 -->", "17| A value is chosen.", "18| 12 nodes"]
    quoted = "XSS is <script>alert(1)</script> in a page.\n```html\n<script>\nalert(1)\n</script>\n```\n"
    assert len(numbered_lines(quoted)) == 6  # a tag a note writes about is sent


def test_a_long_paper_is_given_room_for_its_concepts_and_a_note_is_not():
    from kbc.compile.extract import ExtractSetup, extract_requests
    from kbc.compile.sources import Source
    from kbc.llm import Templates

    setup = ExtractSetup(Templates(), lambda text: len(text) // 4, 32768, 3000, long_output=6000)
    note = Source("raw/n.md", "Note", "Raft elects a leader.\n", "1")
    paper = Source("raw/p.md", "Paper", "".join(f"Sentence {n} says something about locks and leases.\n"
                                                for n in range(1400)), "2")
    (short,), (long,) = extract_requests(setup, note, []), extract_requests(setup, paper, [])
    assert short.max_tokens == 3000 and short.schema["properties"]["concepts"]["maxItems"] == 8
    assert long.max_tokens == 6000 and long.schema["properties"]["concepts"]["maxItems"] == 24
