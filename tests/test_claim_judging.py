"""Claims of other sources judged about a concept, inside the one consolidation request: an
accepted claim puts its source on the concept's page; no claim is asked twice; adding a source
still sends at most one consolidation request; the list stays bounded."""
import re

from kbc.compile import CompileOptions, compile_vault
from kbc.compile import claim_judging as cj
from kbc.compile.claim_subjects import TitleSubjects
from kbc.compile.consolidate import Batch, Neighbourhood, profile
from kbc.compile.judgements import claim_id
from kbc.compile.manifest import Manifest
from kbc.compile.rows import Claim, Concept
from kbc.compile.sync import explain
from kbc.vault.frontmatter import split
from tests.conftest import make_llm, open_vault, templates
from tests.scripted import ScriptedModel, ScriptedServer, count_tokens

NOTES = {
    "Training recipe": "Regularization comes last, once a large model fits the training set.\n"
                       "Regularization includes Weight Decay, Dropout and more data.\n",
    "Nets of 1989": "Weight Decay of 1e-4 helped fight the overfitting of the small net.\n"
                    "Weight Decay was applied to every layer of the 1989 net.\n",
    "Later nets": "Dropout of 0.25 before the last layer helped the later nets most.\n",
}
CONCEPTS = {  # note -> (name, definition, claim lines)
    "Training recipe": ("Regularization", "Giving up training accuracy to gain validation accuracy.", [1, 2]),
    "Nets of 1989": ("Weight Decay", "A penalty on large weights added to the loss.", [1, 2]),
    "Later nets": ("Dropout", "Zeroing random activations during training.", [1]),
}


class Model(ScriptedModel):
    """Extracts CONCEPTS; accepts the claims whose text `about(concept name, claim)` says is about
    the concept asked; records every claim question."""

    def __init__(self, about=lambda name, claim: False, concepts=None):
        self.about, self.concepts = about, concepts or CONCEPTS
        self.asked: list[tuple[str, str, str]] = []  # (concept name, source title, claim)
        self.consolidations = 0

    def answer_source_extraction(self, prompt, body):
        title = re.search(r'Source "(.+?)"', prompt).group(1)
        lines = prompt.split(f'Source "{title}":', 1)[1].strip().split("\n")
        name, definition, numbers = self.concepts[title]
        claims = [{"text": lines[n - 1].split("| ", 1)[1], "lines": str(n)} for n in numbers]
        return {"title": title, "summary": f"A note on {name}.",
                "concepts": [{"name": name, "aliases": [], "category": "technique", "definition": definition,
                              "claims": claims}]}

    def answer_concept_decisions(self, prompt, body):
        self.consolidations += 1
        data = super().answer_concept_decisions(prompt, body)
        names = {c: rest.split(" |")[0] for c, rest in re.findall(r"^(C\d+): (.+)$", prompt, re.M)}
        source, about = "", []
        for line in prompt.split("\nClaims to judge", 1)[-1].split("\n"):
            if line.startswith("From: "):
                source = line[6:]
            question = re.match(r"^(Q\d+): (C\d+) \| (.+)$", line)
            if question:
                label, concept, claim = question.groups()
                self.asked.append((names[concept], source, claim))
                if self.about(names[concept], claim):
                    about.append(label)
        return {**data, "about": about}


def overfitting(name, claim):
    return name == "Regularization" and "overfitting" in claim


def write_notes(root, titles, notes=None):
    for title in titles:
        (root / "raw" / f"{title}.md").write_text(f"---\ntitle: {title}\n---\n{(notes or NOTES)[title]}")


def compile_with(root, model):
    with ScriptedServer(model) as server:
        vault = open_vault(root, server)
        report = compile_vault(vault, make_llm(vault, server), templates(vault), CompileOptions())
        return vault, report, server.requests


def sources_of(vault, page):
    props, _ = split((vault.wiki_dir / "concepts" / f"{page}.md").read_text())
    return props.get("sources") or []


def test_an_accepted_claim_puts_its_source_on_the_page_and_a_rerun_sends_nothing(vault_dir):
    write_notes(vault_dir, ["Training recipe", "Nets of 1989"])
    model = Model(overfitting)
    vault, report, requests = compile_with(vault_dir, model)
    assert not report.errors
    assert ("Regularization", "Nets of 1989", "Weight Decay of 1e-4 helped fight the overfitting of the small net.") \
        in model.asked
    assert model.consolidations == 1
    assert "[[Nets of 1989 (source)]]" in sources_of(vault, "Regularization")
    body = (vault.wiki_dir / "concepts" / "Regularization.md").read_text()
    assert "overfitting" in body and "[[Weight Decay]]" in body.split("## Related", 1)[1]
    again = Model(overfitting)
    _, _, rerun = compile_with(vault_dir, again)
    assert rerun == [] and again.asked == []
    lines = explain(Manifest(vault))
    assert any(line.startswith("about: Regularization [raw/Training recipe.md] (page [[Regularization]]) <- "
                               "[raw/Nets of 1989.md line 1] Weight Decay of 1e-4") for line in lines)


def test_an_accepted_claim_survives_its_note_being_renamed(vault_dir):
    write_notes(vault_dir, ["Training recipe", "Nets of 1989"])
    vault, _, _ = compile_with(vault_dir, Model(overfitting))
    cited = sources_of(vault, "Regularization")
    for note in ("Nets of 1989", "Training recipe"):  # the claim's note and the concept's
        (vault_dir / "raw" / f"{note}.md").rename(vault_dir / "raw" / f"{note} (moved).md")
    again = Model(overfitting)
    vault, report, _ = compile_with(vault_dir, again)
    assert report.renamed and again.asked == [] and again.consolidations == 0
    assert sources_of(vault, "Regularization") == cited


def test_a_rejected_claim_is_never_asked_again_and_a_new_source_sends_one_consolidation(vault_dir):
    write_notes(vault_dir, ["Training recipe", "Nets of 1989"])
    first = Model()
    vault, _, _ = compile_with(vault_dir, first)
    assert first.asked and "[[Nets of 1989 (source)]]" not in sources_of(vault, "Regularization")
    write_notes(vault_dir, ["Later nets"])
    second = Model()
    _, report, _ = compile_with(vault_dir, second)
    assert not report.errors and second.consolidations <= 1
    assert not set(first.asked) & set(second.asked)
    # The new source's claim is put to the concept already there whose claims name its concept.
    assert ("Regularization", "Later nets", "Dropout of 0.25 before the last layer helped the later nets most.") \
        in second.asked


def question(concept: str, number: int, score: float) -> cj.Question:
    claim = Claim("raw/other.md", "raw/other.md::x", "claim", f"Claim number {number} says something long " * 3,
                  str(number))
    return cj.Question(concept, claim, claim_id(claim), score)


def test_the_claim_list_is_bounded_per_run_and_per_request():
    labels = {f"C{n}": f"concept {n}" for n in range(1, 41)}
    batches = [Batch(dict(list(labels.items())[:20]), [], None), Batch(dict(list(labels.items())[20:]), [], None)]
    found = {key: [question(key, n, 100 - n) for n in range(cj.PER_CONCEPT)] for key in labels.values()}
    found["concept 1"] = [question("concept 1", n, 1000 - n) for n in range(200)]  # far more than any cap
    groups = cj.attach(batches, found, {"raw/other.md": "Other"}, count_tokens)
    sizes = [sum(count_tokens(q.claim.text) + 6 for _, _, q in b.claims) for b in batches]
    assert sum(sizes) <= cj.TOKENS_PER_CONCEPT * 40
    assert all(size <= cj.REQUEST_SHARE * cj.TOKENS_PER_CONCEPT * 20 for size in sizes)
    lines = [line for batch in groups for group in batch for line in group["lines"]]
    assert lines[0].startswith("Q1: C1 | Claim number") and len(lines) == sum(len(b.claims) for b in batches)
    assert all(key in batches[0].labels.values() for _, key, _ in batches[0].claims)


SUBJECT_NOTES = {"Training recipe": NOTES["Training recipe"],
                 "Weight Decay, a penalty on weights": "Weight Decay helped fight the overfitting of the small net.\n"
                                                       "A penalty on large weights fought overfitting in 1989.\n"}
SUBJECT_CONCEPTS = {"Training recipe": CONCEPTS["Training recipe"],
                    "Weight Decay, a penalty on weights": ("Weight Decay", CONCEPTS["Nets of 1989"][1], [1, 2])}


def test_a_claim_opening_with_its_sources_title_subject_is_not_asked_for_another_concept(vault_dir):
    write_notes(vault_dir, list(SUBJECT_NOTES), SUBJECT_NOTES)
    model = Model(overfitting, SUBJECT_CONCEPTS)
    vault, report, _ = compile_with(vault_dir, model)
    assert not report.errors
    asked = {(name, claim) for name, _, claim in model.asked}
    # The source is about Weight Decay: a claim opening with it is about it, not Regularization.
    assert ("Regularization", "Weight Decay helped fight the overfitting of the small net.") not in asked
    assert ("Regularization", "A penalty on large weights fought overfitting in 1989.") in asked
    # The other claim, accepted, is evidence of Regularization (its page cites the source).
    assert "[[Weight Decay, a penalty on weights (source)]]" in sources_of(vault, "Regularization")


def test_the_title_subject_rule_reads_articles_possessives_and_inflected_names():
    concepts = {"wd": Concept("wd", "Weight Decay", ["L2 penalty"], "", "technique", "", members=["n.md::wd"]),
                "bp": Concept("bp", "Boilerplate Removal", [], "", "task", "", members=["m.md::bp"])}
    claims = {text: Claim("n.md", "n.md::wd", "claim", text, "1") for text in (
        "Weight Decay's strength is set per layer.", "The L2 penalty was set per layer.",
        "Weight decays helped.", "Weight Decay removes boilerplate from the weights.",
        "Weight Decay is a boilerplate removal for weights.", "A weight penalty was set per layer.",
        "Weight Decayed nets are not the subject.", "In the 1989 net, weight decay was 1e-4.",
        "Tuning the Weight Decay's strength took a day.", "Unlike weight decay, dropout zeroes activations.",
        "Hanson et al. (1989) found weight decay best.", "Hanson (1989) compared dropout to weight decay.")}
    subjects = TitleSubjects(concepts, {"wd": list(claims.values())}, {"n.md": "Weight Decay in nets"})
    bp = profile(concepts["bp"], {})
    elsewhere = {text for text, claim in claims.items() if subjects.elsewhere(claim, bp.names, bp.patterns)}
    assert elsewhere == {"Weight Decay's strength is set per layer.", "The L2 penalty was set per layer.",
                         "Weight decays helped.", "In the 1989 net, weight decay was 1e-4.",
                         "Tuning the Weight Decay's strength took a day.", "Hanson et al. (1989) found weight decay best."}


def test_claims_about_their_sources_subject_take_the_concepts_places_and_are_not_asked():
    concepts = {"reg": Concept("reg", "Regularization", [], "", "technique", "", members=["a.md::reg"]),
                "wd": Concept("wd", "Weight Decay", [], "", "technique", "", members=["n.md::wd"])}
    member_key = {"a.md::reg": "reg", "n.md::wd": "wd"}
    near = Neighbourhood({k: profile(c, {}) for k, c in concepts.items()}, {"wd": {"reg": 20.0}})
    own = Claim("a.md", "a.md::reg", "claim", "Regularization such as Weight Decay fights overfitting.", "1")
    about_wd = [Claim("n.md", "n.md::wd", "claim", text, str(n)) for n, text in enumerate(
        ["Weight Decay helped fight the overfitting of the small net.",
         "Weight Decay halved the overfitting of large nets."], 1)]
    other = Claim("n.md", "n.md::wd", "claim", "A penalty on large weights fought overfitting in 1989.", "3")
    titles = {"n.md": "Weight Decay in nets", "a.md": "Training recipe"}

    def asked_for_reg(claims):
        found = cj.questions(near, concepts, member_key, [own, *claims], set(), set(), lambda key, paths: [], titles)
        return [q.claim.text for q in found.get("reg", [])]

    # Its two best claims are about Weight Decay: the one ranked below them is not searched for.
    assert asked_for_reg([*about_wd, other]) == []
    assert asked_for_reg([about_wd[0], other]) == [other.text]
