"""Articles draw on sources that discuss a concept in other words: the passage of a related
concept's source that says the concept's telling words (kbc/compile/evidence.py), never a
bibliography entry, never from a source no decision relates; names with an alternative word
in parentheses are found under either word (kbc/compile/identity.py)."""
import re

from kbc.compile.evidence import Source, is_reference, mentions, with_neighbour_lines
from kbc.compile.rows import Claim, Concept, Evidence
from kbc.vault.files import sha256_text
from kbc.vault.frontmatter import split
from tests.scripted import ScriptedModel, text_of
from tests.test_consolidate import compile_with

RECIPE = ("Regularization keeps a network from overfitting its training set.\n"
          "Weight decay penalises large weights and dropout drops units at random: both regularize.\n"
          "Regularization trades training fit for validation accuracy and smoother weights.\n")
REPRODUCTION = ("The 1989 network was trained again with a modern optimizer.\n"
                "A little weight decay came along in the defaults, which helps fight the overfitting.\n"
                "Data augmentation shifted the input images by one pixel.\n"
                "[3] Chang, F., Dean, J., and Ghemawat, S. Weight decay, dropout and overfitting. 2006.\n")
UNRELATED = "A cooking note.\nWeight decay of a sourdough starter: overfitting the jar, dropout of yeast.\n"


def source(path: str, body: str) -> Source:
    return Source(path=path, title=path.split("/")[-1][:-3], body=body, sha256=sha256_text(body))


def concept(key: str, name: str, path: str, claims: list[str]) -> tuple[Concept, list[Claim]]:
    member = f"{path}::{key}"
    rows = [Claim(path, member, "claim", text, str(n)) for n, text in enumerate(claims, 1)]
    return Concept(key=key, name=name, aliases=[], definition=claims[0], category="concept", page=name,
                   members=[member], link_names=[name]), rows


def run(relations, sources=None):
    sources = sources or [source("raw/recipe.md", RECIPE), source("raw/reproduction.md", REPRODUCTION),
                          source("raw/cooking.md", UNRELATED)]
    pages = {s.path: s.title for s in sources}
    rows = [concept("regularization", "Regularization", "raw/recipe.md", RECIPE.strip().split("\n")),
            concept("data augmentation", "Data Augmentation", "raw/reproduction.md",
                    ["Data augmentation shifts the input images by one pixel.", "It adds training examples."]),
            concept("optimizer", "Optimizer", "raw/reproduction.md", ["The network was trained with a modern optimizer."]),
            concept("starter", "Sourdough Starter", "raw/cooking.md", ["A starter is flour and water, fed daily."])]
    concepts = {c.key: c for c, _ in rows}
    claims = {c.members[0]: found for c, found in rows}
    evidence = {c.key: [Evidence(pages[found[0].source_path], x.text, x.lines) for x in found] for c, found in rows}
    return with_neighbour_lines(evidence, concepts, relations, claims, pages, sources)


def added(evidence, key):
    return [e for e in evidence[key] if e.kind == "neighbour"]


def test_a_related_concepts_source_lends_its_passage_in_other_words():
    evidence = run([("data augmentation", "regularization", "related")])
    lines = added(evidence, "regularization")
    assert [e.source_page for e in lines] == ["reproduction"] and lines[0].lines in ("2", "1-2")
    assert "weight decay came along" in lines[0].text
    assert "Chang, F." not in lines[0].text  # the bibliography entry says the same words, and nothing of it
    assert added(evidence, "data augmentation") == []  # nothing in the recipe says augmentation's words


def test_no_decision_no_line_and_different_is_no_relation():
    assert added(run([]), "regularization") == []
    assert added(run([("data augmentation", "regularization", "different")]), "regularization") == []
    # the cooking note says the same words, but no decision relates its concept: never looked in
    evidence = run([("data augmentation", "regularization", "related")])
    assert all(e.source_page != "cooking" for e in evidence["regularization"])


def test_a_passage_of_words_every_concept_uses_is_about_none():
    generic = source("raw/reproduction.md", "The network was trained on images with a modern network.\n")
    sources = [source("raw/recipe.md", RECIPE), generic, source("raw/cooking.md", UNRELATED)]
    assert added(run([("optimizer", "regularization", "related")], sources), "regularization") == []


def test_bibliography_entries_are_no_mention():
    assert is_reference("[4] DEAN, J., AND GHEMAWAT, S. MapReduce: Simplified data processing. In 6th OSDI (2004).")
    assert is_reference("Karger, D., Lehman, E., Leighton, T., and Lewin, D. 1997. Consistent hashing and random trees.")
    assert not is_reference("MapReduce, as Dean and Ghemawat describe it, runs a map and a reduce phase.")
    reg, _ = concept("mapreduce", "MapReduce", "raw/mr.md", ["MapReduce runs map and reduce tasks."])
    chubby = source("raw/chubby.md", "Chubby is used by GFS.\n[4] DEAN, J., AND GHEMAWAT, S. MapReduce: "
                    "Simplified data processing on large clusters. In 6th OSDI (2004).\n")
    assert mentions(reg, [chubby], {"raw/chubby.md": "chubby"}, set()) == []


# -- through compile: the write prompt, the page's sources, a rerun -------------------------

NOTES = {"Recipe": RECIPE, "Reproduction": REPRODUCTION}
CONCEPTS = {"Recipe": [("Regularization", [1, 2, 3])], "Reproduction": [("Data Augmentation", [3])]}
# The definition that makes code put the pair to the model (it names the other concept).
DEFINITIONS = {"Data Augmentation": "A regularization that adds shifted copies of the training images."}


class Model(ScriptedModel):
    def __init__(self, relation="related", names=None):
        self.relation, self.names = relation, names or {}
        self.prompts: list[str] = []

    def answer_source_extraction(self, prompt, body):
        title = re.search(r'Source "(.+?)"', prompt).group(1)
        lines = dict(re.findall(r"^\s*(\d+)\| (.*)$", prompt, re.M))
        concepts = [{"name": name, "aliases": [], "category": "concept",
                     "definition": DEFINITIONS.get(name, lines[str(cited[0])]),
                     "claims": [{"text": lines[str(n)], "lines": str(n)} for n in cited]}
                    for name, cited in CONCEPTS.get(title, [])]
        return {"title": title, "summary": f"A note, {title}.", "concepts": concepts}

    def answer_concept_decisions(self, prompt, body):
        pairs = re.findall(r"^(P\d+): (C\d+) / (C\d+)$", prompt, re.M)
        lines = dict(re.findall(r"^(C\d+): (.+?) \|", prompt, re.M))
        return {"decisions": [{"pair": p, "relation": self.relation, "name": ""} for p, _, _ in pairs],
                "renames": [{"concept": c, "name": self.names[n]} for c, n in lines.items() if n in self.names]}

    def answer_concept_articles(self, prompt, body):
        self.prompts.append(text_of(body["messages"][-1]))
        return super().answer_concept_articles(prompt, body)


def vault(root, notes):
    for title, text in notes.items():
        (root / "raw" / f"{title}.md").write_text(f"---\ntitle: {title}\n---\n{text}")
    return root


def page_sources(vault_obj, name):
    props, _ = split((vault_obj.wiki_dir / "concepts" / f"{name}.md").read_text())
    return " ".join(map(str, props.get("sources") or []))


def test_compile_writes_from_the_related_source_and_a_rerun_sends_nothing(vault_dir):
    root = vault(vault_dir, NOTES)
    model = Model()
    vault_obj, _, _ = compile_with(root, model)
    section = next(p for p in model.prompts if "## Regularization" in p).split("## Regularization", 1)[1]
    heading = "Lines of other sources that share its words but not its name:"
    assert heading in section and "weight decay came along" in section.split(heading, 1)[1]
    assert "Reproduction" in page_sources(vault_obj, "Regularization")
    _, _, requests = compile_with(root, Model())
    assert requests == []


def test_compile_without_a_relation_keeps_the_article_to_its_own_sources(vault_dir):
    root = vault(vault_dir, NOTES)
    model = Model(relation="different")
    vault_obj, _, _ = compile_with(root, model)
    assert all("share its words" not in p for p in model.prompts)
    assert "Reproduction" not in page_sources(vault_obj, "Regularization")


def test_a_name_with_an_alternative_word_is_found_under_either(vault_dir):
    notes = {"Brief": "Paxos in brief.\nA proposer picks a ballot number and asks acceptors to promise.\n",
             "Simple": ("Paxos, made simple.\nEach proposal number is unique to its proposer.\n"
                        "An acceptor answers with the highest proposal number it accepted.\n")}
    CONCEPTS.update({"Brief": [("Ballot Number", [2])], "Simple": [("Acceptor", [3])]})
    try:
        root = vault(vault_dir, notes)
        model = Model(relation="different", names={"Ballot Number": "Paxos Ballot (Proposal) Number"})
        vault_obj, _, _ = compile_with(root, model)
    finally:
        for title in ("Brief", "Simple"):
            CONCEPTS.pop(title)
    section = next(p for p in model.prompts if "## Paxos Ballot (Proposal) Number" in p)
    named = section.split("Lines of other sources that name it:", 1)[1]
    assert "highest proposal number it accepted" in named
    assert "Simple" in page_sources(vault_obj, "Paxos Ballot (Proposal) Number")


def test_a_generic_name_counts_only_next_to_its_qualifier():
    master = Concept(key="mapreduce master", name="MapReduce Master", aliases=[], definition="", category="role",
                     page="MapReduce Master", members=["raw/mr.md::master"], link_names=["MapReduce Master"],
                     qualified=[("Master", ["MapReduce"])])
    far = source("raw/chubby.md", "Chubby serves systems such as MapReduce.\n\nA cell elects a master.\n\n"
                 "The master answers reads.\nA GFS master holds a lock.\n")
    assert mentions(master, [far], {"raw/chubby.md": "chubby"}, set()) == []
    near = source("raw/chubby.md", "Chubby serves MapReduce.\nIts master asks Chubby for a lock.\n"
                  "A MapReduce master restarts its tasks.\n")
    found = mentions(master, [near], {"raw/chubby.md": "chubby"}, set())
    assert [e.lines for e in found] == ["2", "3"]
