"""Other sources' lines an article draws on (kbc/compile/evidence.py): never a bibliography
entry; names with an alternative word in parentheses are found under either word, a generic
name only next to its qualifier (kbc/compile/identity.py)."""
import re

from kbc.compile.evidence import MENTION_SOURCES, SourceIndex, Source, mentioned, mentions
from kbc.vault.bibliography import is_reference
from kbc.compile.rows import Claim, Concept
from kbc.vault.files import sha256_text
from kbc.vault.frontmatter import split
from tests.scripted import ScriptedModel, text_of
from tests.test_consolidate import compile_with


def source(path: str, body: str) -> Source:
    return Source(path=path, title=path.split("/")[-1][:-3], body=body, sha256=sha256_text(body))


def concept(key: str, name: str, path: str, claims: list[str]) -> tuple[Concept, list[Claim]]:
    member = f"{path}::{key}"
    rows = [Claim(path, member, "claim", text, str(n)) for n, text in enumerate(claims, 1)]
    return Concept(key=key, name=name, aliases=[], definition=claims[0], category="concept", page=name,
                   members=[member], link_names=[name]), rows


def test_bibliography_entries_are_no_mention():
    assert is_reference("[4] DEAN, J., AND GHEMAWAT, S. MapReduce: Simplified data processing. In 6th OSDI (2004).")
    assert is_reference("Karger, D., Lehman, E., Leighton, T., and Lewin, D. 1997. Consistent hashing and random trees.")
    assert not is_reference("MapReduce, as Dean and Ghemawat describe it, runs a map and a reduce phase.")
    reg, _ = concept("mapreduce", "MapReduce", "raw/mr.md", ["MapReduce runs map and reduce tasks."])
    chubby = source("raw/chubby.md", "Chubby is used by GFS.\n[4] DEAN, J., AND GHEMAWAT, S. MapReduce: "
                    "Simplified data processing on large clusters. In 6th OSDI (2004).\n")
    assert mentions(reg, [chubby], {"raw/chubby.md": "chubby"}, set()) == []
    prose = "".join(f"Chubby paragraph {n} on locks.\n" for n in range(8))
    wrapped = source("raw/chubby.md", prose + "MapReduce jobs elect a master with Chubby.\n## References\n"
                     "-   Dean, J., and Ghemawat, S. (2004). Simplified data processing\n"
                     "    with MapReduce on large clusters. In OSDI.\n")
    found = mentions(reg, [wrapped], {"raw/chubby.md": "chubby"}, set())
    assert [e.lines for e in found] == ["9"]  # not the entry's wrapped line, which names MapReduce too


def test_new_sources_join_the_ranking_of_the_others():
    """What the mention cache relies on: the best sources of all are the best of the earlier
    best and the new ones (a source ranks by its own hits only)."""
    reg, _ = concept("paxos", "Paxos", "raw/own.md", ["Paxos reaches consensus."])
    notes = [source(f"raw/n{n}.md", "Intro line.\n" + "Paxos is discussed here.\n" * (n % 5 + 1)
                    + "Multi-Paxos and Paxos again.\n" * (n % 3)) for n in range(12)]
    pages = {s.path: s.path[4:-3] for s in notes}
    full = mentioned(reg, notes, pages, set(), SourceIndex(notes))
    assert len(full) == MENTION_SOURCES and full == mentioned(reg, notes, pages, set())
    kept = mentioned(reg, notes[:8], pages, set())
    assert mentioned(reg, notes[8:], pages, set(), kept=kept) == full
    assert mentions(reg, notes, pages, set()) == [e for m in full for e in m.evidence]


# -- through compile: the write prompt and the page's sources --------------------------------

CONCEPTS: dict[str, list] = {}


class Model(ScriptedModel):
    def __init__(self, relation="related", names=None):
        self.relation, self.names = relation, names or {}
        self.prompts: list[str] = []

    def answer_source_extraction(self, prompt, body):
        title = re.search(r'Source "(.+?)"', prompt).group(1)
        lines = dict(re.findall(r"^\s*(\d+)\| (.*)$", prompt, re.M))
        concepts = [{"name": name, "aliases": [], "category": "concept",
                     "definition": lines[str(cited[0])],
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


def test_a_mention_cut_from_its_sentence_by_a_page_break_gets_the_sentence_start():
    """"has become Google's primary name service" of Chubby, after a page break, would be read
    as said of MapReduce (the concept it names): the start of its sentence comes with it."""
    reg, _ = concept("mapreduce", "MapReduce", "raw/mr.md", ["MapReduce runs map and reduce tasks."])
    filler = "Other text about locks and files that the lock service keeps for its many clients. " * 2
    body = (f"{filler}Within a few months of its release, Chubby\n\n<!-- page 7 -->\n\nThe Chubby Paper 7\n\n"
            "has become Google's primary internal name service and a rendezvous for MapReduce jobs, "
            "which elect their masters with it.\n")
    found = mentions(reg, [source("raw/chubby.md", body)], {"raw/chubby.md": "chubby"}, set())
    assert [e.text for e in found] == [
        "Within a few months of its release, Chubby has become Google's primary internal name service and a "
        "rendezvous for MapReduce jobs, which elect their masters with it."]
    # A line after a closed sentence is quoted as it is.
    closed = body.replace("of its release, Chubby", "of its release.")
    assert mentions(reg, [source("raw/chubby.md", closed)], {"raw/chubby.md": "chubby"}, set())[0].text \
        .startswith("has become")
