"""How context packs choose and lay out source sentences (kbc.search.excerpts, kbc.search.context)."""
import os

from kbc.llm.backends import estimate_tokens
from kbc.search.excerpts import note_sentences, pick
from tests.conftest import open_vault

RECIPE = ["Overfit a single batch of only two examples first.",
          "",
          "Train on two examples only. To do so we increase the capacity of the model and watch the loss reach zero. "
          "Unrelated closing words are written here."]


def scored(lines, scores):
    sentences = note_sentences("recipe", lines)
    for sentence in sentences:
        sentence.score = scores.get(sentence.text[:12], 0.0)
    return sentences


def test_a_sentence_pointing_back_comes_with_the_one_before_it():
    sentences = scored(RECIPE, {"To do so we ": 2.0, "Overfit a si": 1.0})
    chosen = [s.text for s in pick(sentences, 1000, estimate_tokens, "")]
    # "To do so" alone says nothing: its paragraph's previous sentence comes first, in note order.
    assert chosen == ["Overfit a single batch of only two examples first.", "Train on two examples only.",
                      "To do so we increase the capacity of the model and watch the loss reach zero."]
    # Both or neither: a budget that holds only the pointing sentence takes the next best instead.
    tight = estimate_tokens(RECIPE[2].split(". ")[1]) + 4
    assert [s.text for s in pick(sentences, tight, estimate_tokens, "")] == [RECIPE[0]]


def test_a_sentence_opening_a_paragraph_points_nowhere():
    lines = ["Leases expire after a fixed time.", "", "This holds even when the holder crashes and never returns."]
    sentences = scored(lines, {"This holds e": 2.0})
    assert [s.text for s in pick(sentences, 1000, estimate_tokens, "")] == [lines[2]]


def test_a_quotation_comes_with_its_speaker_and_a_cut_quotation_comes_whole():
    # A news page: the speaker is named in one sentence and the quote goes on in the next;
    # a quoted passage of two sentences, one of them scored; a quote after narrative.
    lines = ['Publishers worry about their players. "Streaming is somewhat binary," says Chris Early of Ubisoft. '
             '"If you don\'t have the bandwidth, it doesn\'t work."',
             "",
             'Ward was blunt: "The catalogue is thin. It needs ten more exclusive games by the spring." '
             'Other analysts disagreed with him.',
             "",
             'The service launched in November to mixed reviews. "Nothing was ready on the day of launch."']
    sentences = scored(lines, {'"If you don\'': 2.0, "It needs ten": 1.5, '"Nothing was': 1.0})
    assert [s.text for s in pick(sentences, 1000, estimate_tokens, "")] == [
        '"Streaming is somewhat binary," says Chris Early of Ubisoft.',
        '"If you don\'t have the bandwidth, it doesn\'t work."',
        'Ward was blunt: "The catalogue is thin.', 'It needs ten more exclusive games by the spring."',
        # nobody is quoted before it: nothing to attribute it to, so it stands alone
        '"Nothing was ready on the day of launch."']


def concept(vault_dir, name, body):
    path = vault_dir / "wiki" / "concepts" / f"{name}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"---\ntitle: {name}\nkind: concept\n---\n\n# {name}\n\n{body}\n")


def test_a_typo_is_corrected_to_the_commonest_near_spelling_and_a_real_word_is_left_alone(vault_dir, server):
    from kbc.search import Searcher

    concept(vault_dir, "Lease", "A lease is a lock with a time limit. Every lease is renewed by its holder.")
    concept(vault_dir, "Leash", "A leash holds a dog.")
    concept(vault_dir, "Fine Tuning", "Fine tuning adapts a trained model.")
    searcher = Searcher(open_vault(vault_dir, server))
    # 'leasx' is one edit from both 'lease' and 'leash': the wiki's commoner word wins, every time.
    assert [h.page for h in searcher.search("leasx")] == ["Lease"]
    # 'define' is a word, not a misspelt 'fine': nothing in this wiki matches it.
    assert searcher.search("define") == []


def test_a_pack_is_the_same_bytes_in_every_process(vault_dir, server):
    import subprocess
    import sys

    concept(vault_dir, "Lease", "A lease is a lock with a time limit. Every lease is renewed by its holder.")
    concept(vault_dir, "Leash", "A leash holds a dog on a walk; a leash is a lock of a kind.")
    for name in ("Tomato", "Pepper", "Basil", "Garden"):
        concept(vault_dir, name, f"{name} grows in a garden in the summer.")
    open_vault(vault_dir, server)
    script = ("import sys; from pathlib import Path; from kbc.vault import Vault; "
              "from kbc.search.context import build_context; from kbc.llm.backends import estimate_tokens; "
              "print(build_context(Vault(Path(sys.argv[1])), 'what is a leasx lock', 2000, estimate_tokens).render())")
    packs = {subprocess.run([sys.executable, "-c", script, str(vault_dir)], capture_output=True, text=True, check=True,
                            env={**os.environ, "PYTHONHASHSEED": str(seed)}).stdout for seed in (1, 2, 3)}
    assert len(packs) == 1 and "=== Lease ===" in packs.pop()


def test_a_pack_never_exceeds_its_budget(vault_dir, server):
    from kbc.search.context import build_context

    # A long note, every line cited: the budget, not the evidence, is what ends the pack.
    # (each worded apart: a sentence repeated with other digits is boilerplate)
    words = ["alpha", "bravo", "cedar", "delta", "ember", "fjord", "garnet", "harbor", "indigo", "juniper"]
    facts = [f"A holder in the {a} {b} cell renews its lease well before the lease expires."
             for a in words for b in words[:8]]
    (vault_dir / "raw" / "Lease manual.md").write_text("---\ntitle: Lease manual\n---\n" + "\n".join(facts) + "\n")
    source = vault_dir / "wiki" / "sources" / "Lease manual (source).md"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_text("---\ntitle: Lease manual\nkind: source-summary\nsource: '[[Lease manual]]'\n---\n\n"
                      "# Lease manual\n\nRules for lease renewal.\n")
    (vault_dir / "wiki" / "concepts").mkdir(parents=True, exist_ok=True)
    (vault_dir / "wiki" / "concepts" / "Lease.md").write_text(
        "---\ntitle: Lease\nkind: concept\nsources: ['[[Lease manual (source)]]']\n---\n\n# Lease\n\n"
        "A lease is renewed by its holder before it expires. ([[Lease manual (source)]])\n\n"
        "## Sources\n\n- [[Lease manual (source)]]: lines 1-80\n")
    vault = open_vault(vault_dir, server)
    sizes = []
    for budget in (120, 300, 700, 1500):
        pack = build_context(vault, "When does a holder renew its lease before it expires?", budget, estimate_tokens)
        assert pack.tokens == estimate_tokens(pack.render()) <= budget
        sizes.append(sum(len(p.excerpts) for p in pack.pages))
    # ... and a larger budget still buys more of the note's lines.
    assert sizes == sorted(sizes) and sizes[-1] > sizes[1] > 0


def test_a_pack_stops_where_what_is_left_scores_far_below_the_best_unless_pages_vouch_for_it():
    lines = ["Leases expire after a fixed time unless the holder renews them.", "",
             "Gardens grow tomatoes in the warm summer months.", "",
             "Chubby clients renew their leases with KeepAlive calls."]
    sentences = scored(lines, {"Leases expir": 2.0, "Gardens grow": 0.6, "Chubby clien": 0.6})
    # Both far under the best; only the one the citing pages and claims vote for is evidence.
    next(s for s in sentences if s.text.startswith("Chubby")).vote = 0.5
    assert [s.text for s in pick(sentences, 1000, estimate_tokens, "")] == [lines[0], lines[4]]


def test_a_pack_names_each_quoted_source_once_and_an_agents_small_pack_names_its_pages(vault_dir, server):
    from kbc.search.context import build_context

    (vault_dir / "raw" / "Lease manual.md").write_text(
        "---\ntitle: Lease manual\n---\nA holder renews its lease well before the lease expires.\n"
        "A lease that is not renewed lapses after twelve seconds.\n")
    source = vault_dir / "wiki" / "sources" / "Lease manual (source).md"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_text("---\ntitle: Lease manual\nkind: source-summary\nsource: '[[Lease manual]]'\n---\n\n"
                      "# Lease manual\n\nRules for lease renewal.\n")
    concept(vault_dir, "Tomato", "A garden plant.")
    (vault_dir / "wiki" / "concepts" / "Lease.md").write_text(
        "---\ntitle: Lease\nkind: concept\nsources: ['[[Lease manual (source)]]']\n---\n\n# Lease\n\n"
        "A lease is renewed by its holder before it expires. ([[Lease manual (source)]])\n\n"
        "Unlike a [[Tomato]], it lapses. ([[Lease manual (source)]])\n\n## Sources\n\n"
        "- [[Lease manual (source)]]: lines 1-2\n")
    vault = open_vault(vault_dir, server)
    question = "When does a holder renew its lease before it expires?"
    text = build_context(vault, question, 3000, estimate_tokens).render()
    # The source's name is given once, on its own block; the page cites it by its short id.
    assert "=== Lease ===\n(concept; cites [S1])" in text and "[S1] lines of `raw/Lease manual.md`:" in text
    assert "1: A holder renews its lease" in text and "it expires. ([S1])" in text
    assert text.count("Lease manual (source)") == 1 and "Links:" not in text  # the tomato is not the question's
    # An agent's small pack is source lines; the page is named for the agent to open.
    small = build_context(vault, question, 400, estimate_tokens)
    assert "Pages on this, not given here: [[Lease]] (cites [S1])" in small.render()
    assert small.names() == ["Lease manual (source)"] and small.tokens <= 400


def test_a_sentence_broken_by_a_page_break_is_read_whole():
    """A PDF's page break falls mid-sentence: a page marker, a running head, a figure's debris
    and labels sit between the halves. The sentence is one again; a caption stays apart."""
    lines = ["Chubby grants each client a lease of twelve seconds, and a client that exchanges a KeepAlive be-",
             "", "<!-- page 2 -->", "Lease Paper 2", "no master ❄ ❄ lease M2 ✲ lease M1 ✄ ✄✗ 1 ❈ ❈ ✄ ✄✗ ✲ ✄ ✄✗❈ ❈ ✄ ✄ ✄ ❈ ❈ ❈ ✄ ✄ ✄ ❈ ❈ ❈",
             "jeopardy", "fore its grace period ends keeps its cache.", "", "Lease Paper 3", "",
             "The master may extend leases when it is under heavy",
             "", "Lease Paper 4", "", "load, so it need process fewer KeepAlive calls.", "",
             "Figure 2: the lease timeline of a master fail-over", "",
             "while the master is busy it may extend leases to sixty seconds."]
    sentences = note_sentences("chubby", lines)
    assert [(s.line, s.end, s.text) for s in sentences[:2]] == [
        (1, 7, "Chubby grants each client a lease of twelve seconds, and a client that exchanges a KeepAlive "
               "be-fore its grace period ends keeps its cache."),
        (11, 15, "The master may extend leases when it is under heavy load, so it need process fewer KeepAlive calls.")]
    texts = [s.text for s in sentences]
    assert texts[2:] == ["Figure 2: the lease timeline of a master fail-over",
                         "while the master is busy it may extend leases to sixty seconds."]
    assert not any("Lease Paper" in t or "❄" in t or "jeopardy" in t for t in texts)
    # A new paragraph (a capital letter) after a break is not glued to one left open.
    assert [s.text for s in note_sentences("x", ["Results are in the table below", "", "Each run took a second."])] \
        == ["Results are in the table below", "Each run took a second."]


def test_a_pdfs_soft_hyphen_joins_the_halves_of_a_word():
    # ingest/pdf.py keeps U+FFFE where a paragraph ends inside a hyphenated word.
    lines = ["The master keeps each ses\ufffe", "", "<!-- page 3 -->", "sion alive while it holds its lease."]
    assert [s.text for s in note_sentences("chubby", lines)] == ["The master keeps each session alive while it holds its lease."]
