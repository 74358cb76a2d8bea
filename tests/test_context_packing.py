"""How context packs choose and lay out source sentences (kbc.search.excerpts, kbc.search.context)."""
from kbc.llm.backends import estimate_tokens
from kbc.search.excerpts import note_sentences, pick

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
