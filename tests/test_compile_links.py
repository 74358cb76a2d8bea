"""Compile's graph and page text against the scripted server: what `## Related` lists, where
links go, how citations read (issue 11, found by a real model's relay on news pages)."""
import re

from tests.test_consolidate import Model, compile_with, props_of

STORY = ("Ann Lee scored twice for the Reds on Sunday.\n"
         "Ben Lee, her brother, watched from the stands.\n"
         "The Reds Club sold out its stadium for the match.\n")
STORY_CONCEPTS = [("Ann Lee", "A forward who scored twice for the Reds.", 1),
                  ("Ben Lee", "The brother of Ann Lee, a spectator.", 2),
                  ("Reds Club", "The football club whose stadium sold out.", 3)]


class StoryModel(Model):
    """Extracts STORY_CONCEPTS from the note "Match report"; every pair asked is different."""

    def __init__(self, concepts=STORY_CONCEPTS, decide=None):
        super().__init__(decide)
        self.concepts = concepts
        self.related_lists: dict[str, str] = {}

    def answer_source_extraction(self, prompt, body):
        lines = prompt.split('Source "Match report":', 1)[1].strip().split("\n")
        return {"title": "Match report", "summary": "A match report.", "concepts": [
            {"name": name, "aliases": [], "category": "person", "definition": definition,
             "claims": [{"text": lines[line - 1].split("| ", 1)[1], "lines": str(line)}]}
            for name, definition, line in self.concepts]}

    def answer_concept_articles(self, prompt, body):
        for block in re.split(r"^## ", prompt, flags=re.M)[1:]:
            related = re.search(r"^Related pages: (.+)$", block, re.M)
            self.related_lists[block.split("\n", 1)[0]] = related.group(1) if related else ""
        return super().answer_concept_articles(prompt, body)


def story_vault(vault_dir, text=STORY, front="title: Match report"):
    (vault_dir / "raw" / "Match report.md").write_text(f"---\n{front}\n---\n{text}")
    return vault_dir


def related_of(body):
    section = body.split("## Related\n", 1)[1].split("\n## ", 1)[0] if "## Related\n" in body else ""
    return re.findall(r"\[\[([^\]|]+)", section)


def test_a_pair_judged_different_is_not_related_though_it_shares_a_source(vault_dir):
    model = StoryModel(decide=lambda a, b: "related" if "Reds Club" in (a, b) else "different")
    vault, _, _ = compile_with(story_vault(vault_dir), model)
    assert ("Ann Lee", "Ben Lee") in model.asked or ("Ben Lee", "Ann Lee") in model.asked
    _, ann = props_of(vault, "Ann Lee")
    _, ben = props_of(vault, "Ben Lee")
    assert "Ben Lee" not in related_of(ann) and "Ann Lee" not in related_of(ben)
    assert "Reds Club" in related_of(ann) and "Reds Club" in model.related_lists["Ben Lee"]
    assert "Ben Lee" not in model.related_lists.get("Ann Lee", "")
    assert "Ann Lee" not in model.related_lists.get("Ben Lee", "")


def test_no_link_inside_a_quotation_a_source_title_or_to_the_page_itself():
    from kbc.vault.autolink import MentionLinker
    linker = MentionLinker({"Google Stadia": ["Stadia"], "Game Streaming": []},
                           titles=["Google Stadia Is Shutting Down"])
    body = ("# Game Streaming\n\nThe article \"Why Google Stadia failed\" and Google Stadia Is Shutting Down "
            "say [[Game Streaming|streaming]] ended; Stadia was one service.\n")
    out = linker.link(body, "Game Streaming")
    assert '"Why Google Stadia failed"' in out and "Google Stadia Is Shutting Down" in out
    assert "[[Google Stadia|Stadia]] was one service" in out  # the first mention outside them
    assert "[[Game Streaming" not in out and "say streaming ended" in out


def test_cited_lines_in_sources_are_sorted_without_repeats_and_runs_are_ranges(vault_dir):
    from kbc.vault.lines import line_ranges
    assert line_ranges(["21", "21", "23", "41", "25", "27"]) == "21, 23, 25, 27, 41"
    assert line_ranges(["3-4", "5", "2", "9, 8"]) == "2-5, 8-9"
    text = "".join(f"Ann Lee line {n} says she scored.\n" for n in range(1, 6))
    concepts = [("Ann Lee", "A forward.", n) for n in (4, 2, 2, 3, 5)]
    vault, _, _ = compile_with(story_vault(vault_dir, text), StoryModel(concepts))
    _, body = props_of(vault, "Ann Lee")
    assert "[[Match report (source)]]: lines 2-5\n" in body.split("## Sources\n", 1)[1]


class InventingModel(StoryModel):
    """Writes one grounded paragraph per claim but the last, then one paragraph off the material."""

    def answer_concept_articles(self, prompt, body):
        claims = re.findall(r"^- \[(\d+)\] (.+)$", prompt, re.M)
        paragraphs = [{"text": text, "sources": [1]} for _, text in claims[:-1]]
        paragraphs.append({"text": "Zorblat quixotic helicopters from Neptune invented marmalade yesterday evening.",
                           "sources": [1]})
        return {"articles": [{"name": "Ann Lee", "paragraphs": paragraphs}]}


def test_a_paragraph_off_the_material_gives_way_only_to_the_claims_no_other_paragraph_carries(vault_dir):
    text = ("Ann Lee scored twice for the Reds on Sunday.\nAnn Lee joined the club from Leeds in spring.\n"
            "Ann Lee wears the number nine shirt.\n")
    concepts = [("Ann Lee", "A forward of the Reds.", n) for n in (1, 2, 3)]
    vault, report, _ = compile_with(story_vault(vault_dir, text), InventingModel(concepts))
    _, body = props_of(vault, "Ann Lee")
    prose = body.split("## ")[0]
    assert "Zorblat" not in prose and any("not supported" in w for w in report.warnings)
    for claim in ("scored twice", "joined the club from Leeds", "number nine shirt"):
        assert prose.count(claim) == 1, (claim, prose)


def test_prompts_offer_events_and_products_and_say_how_to_rename_and_link(vault_dir):
    from kbc.compile.names import category
    assert [category(c) for c in ("Event", "products", "Organisation", "organization", "person")] == \
        ["event", "product", "organization", "organization", "person"]
    model = StoryModel(decide=lambda a, b: "related")
    _, _, requests = compile_with(story_vault(vault_dir), model)
    sent = {kind: "\n".join(m["content"] for r in requests if kind in str(r.get("response_format"))
                            for m in r["messages"]) for kind in ("source_extraction", "concept_decisions",
                                                                  "concept_articles")}
    assert "event" in sent["source_extraction"] and "organization" in sent["source_extraction"]
    assert 'its C id (like "C4")' in sent["concept_decisions"] and "kind or instance" in sent["concept_decisions"]
    assert "Never add\n  a sentence for a link" in sent["concept_articles"]


class BylineModel(StoryModel):
    """Sees what the extract prompt says about the source; its article names the outlet."""

    def answer_source_extraction(self, prompt, body):
        self.extract_prompt = prompt
        return super().answer_source_extraction(prompt, body)

    def answer_concept_articles(self, prompt, body):
        claims = re.findall(r"^- \[(\d+)\] (.+)$", prompt, re.M)
        text = "Writing in the Daily Planet, Clark Kent reports that " + claims[0][1]
        return {"articles": [{"name": n, "paragraphs": [{"text": text, "sources": [1]}]}
                             for n in re.findall(r"^## (.+)$", prompt, re.M)]}


def test_the_extract_prompt_shows_the_byline_and_an_article_may_name_its_authors_and_outlet(vault_dir):
    front = ('title: Match report\nauthor:\n  - "[[Clark Kent]]"\nsite: Daily Planet\npublished: 2019-11-15\n'
             'description: Why the Reds won the derby.')
    model = BylineModel([("Ann Lee", "A forward of the Reds.", 1)])
    vault, report, _ = compile_with(story_vault(vault_dir, front=front), model)
    header, numbered = model.extract_prompt.split('Source "Match report":', 1)
    assert "by Clark Kent; published by Daily Planet; on 2019-11-15" in header
    assert "Why the Reds won the derby" in header and "Clark Kent" not in numbered
    assert numbered.strip().startswith("1| Ann Lee scored")
    _, body = props_of(vault, "Ann Lee")
    assert "Writing in the Daily Planet, Clark Kent reports" in body, report.warnings


def test_the_sources_section_says_lines_count_from_the_notes_body(vault_dir):
    vault, _, _ = compile_with(story_vault(vault_dir, front="title: Match report\nsite: Daily Planet"), StoryModel())
    _, body = props_of(vault, "Ann Lee")
    sources = body.split("## Sources\n", 1)[1].split("<!-- kbc:backlinks -->")[0]
    assert "[[Match report (source)]]: lines 1" in sources
    assert "Lines count from the first line after the note's front matter." in sources
    note = (vault.root / "raw" / "Match report.md").read_text().split("---\n", 2)[2].split("\n")
    assert note[0].startswith("Ann Lee scored")  # line 1 of the body is the cited line


def test_the_consolidation_prompt_carries_a_long_definition_whole(vault_dir):
    long = ("A forward who joined the Reds from Leeds in the spring transfer window and who scored twice "
            "in the derby on Sunday, wearing the number nine shirt that her brother Ben Lee once wore.")
    model = StoryModel([("Ann Lee", long, 1), ("Ben Lee", "The brother of Ann Lee, a spectator.", 2)])
    _, _, requests = compile_with(story_vault(vault_dir), model)
    decisions = [m["content"] for r in requests if "concept_decisions" in str(r.get("response_format"))
                 for m in r["messages"]]
    assert any(long in text for text in decisions)


def test_concepts_linked_only_by_the_orphan_fallback_get_one_related_line_each():
    # Three concepts nothing connects: each is linked from its nearest, and a later concept's
    # fallback must not add a second line for a pair an earlier one already linked.
    from kbc.compile.graph import build_graph, related_section
    from kbc.compile.rows import Concept

    concepts = {k: Concept(k, k.title(), [], f"{k} things", "other", k.title()) for k in ("a", "b", "c")}
    nearest = {"a": "b", "b": "a", "c": "a"}
    graph = build_graph(concepts, {}, [], lambda key, apart: nearest[key])
    for key in concepts:
        lines = related_section(graph, key, concepts).splitlines()[2:]
        assert lines and len(lines) == len(set(lines)), (key, lines)
    inbound = {e.other for key in concepts for e in graph.related(key)}
    assert inbound == set(concepts)


def test_concepts_that_only_share_a_long_source_fill_few_related_lines():
    # A real model's Related lists were every concept of the same blog post: sharing a source
    # counts for three entries, and beyond those only for concepts cited within a few lines.
    from kbc.compile.graph import MAX_SAME_SOURCE, build_graph
    from kbc.compile.rows import Concept, Evidence

    keys = ["hub", *(f"far{n}" for n in range(6)), "near"]
    concepts = {k: Concept(k, k.title(), [], f"{k} things", "other", k.title()) for k in keys}
    evidence = {k: [Evidence("Post (source)", f"{k} text", str(line))]
                for k, line in zip(keys, [100, 10, 30, 50, 150, 170, 190, 101])}
    related = [e.other for e in build_graph(concepts, evidence, [], lambda key, apart: None).related("hub")]
    assert related[0] == "near" and len(related) == 1 + MAX_SAME_SOURCE
