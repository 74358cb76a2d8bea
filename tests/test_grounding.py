"""Write-time grounding: a generated paragraph is checked against the material it was written from."""
import json

import pytest

from kbc.compile.grounding import ungrounded
from tests.conftest import CORPUS

RAFT = ["A consensus algorithm, designed to be easier to understand than Paxos, in which an elected "
        "leader replicates a log of commands to followers.",
        "Raft was designed to be easier to understand than Paxos.",
        "It elects a leader that replicates a log of commands to the followers.",
        "Like Paxos, it relies on overlapping majorities for safety.",
        "An entry is committed once the leader has stored it on a majority of three servers."]
LEASES = ["A lease is a lock that expires after a fixed time unless it is renewed.",
          "A holder that crashes simply lets its lease run out, so no one has to detect the crash."]
NAMES = {"Raft", "Paxos", "Leader", "Raft consensus"}


def test_a_faithful_paraphrase_is_grounded():
    text = ("Raft is a consensus algorithm whose design goal was understandability, compared with Paxos. "
            "An elected leader replicates a log of commands to its followers [1], and, like [[Paxos]], "
            "Raft depends on overlapping majorities to stay safe. An entry counts as committed once "
            "3 servers, a majority, have stored it.")
    assert ungrounded(text, RAFT, NAMES) == ""


def test_the_demo_wikis_loop_is_caught():
    # What SmolLM2 wrote for every paragraph of the demo wiki (issue 15).
    text = ("A consensus algorithm designed to be easier to understand than a consensus algorithm "
            "designed to be easier to understand than a consensus algorithm designed to be easier to")
    assert "loop" in ungrounded(text, RAFT, NAMES)


@pytest.mark.parametrize("text", ["Raft raft raft.", "Leader. Leader. Leader.",
                                  "Raft elects a leader. Raft elects a leader.",
                                  "of the of the of the log."])
def test_short_repetitive_text_is_caught(text):
    assert "repeats" in ungrounded(text, RAFT, NAMES)


def test_a_restatement_in_the_next_sentence_is_not_a_loop():
    text = ("Raft is a consensus algorithm designed to be easier to understand than Paxos. "
            "Indeed, Raft was designed to be easier to understand than Paxos.")
    assert ungrounded(text, RAFT, NAMES) == ""


def test_another_concepts_prose_is_caught():
    # The demo wiki's Leases article talked about consensus algorithms.
    text = "Raft is a consensus algorithm in which an elected leader replicates a log of commands."
    assert "not in the material" in ungrounded(text, LEASES, {"Lease"})


def test_one_off_topic_sentence_is_caught():
    text = ("A lease is a lock that expires after a fixed time unless it is renewed. A holder that crashes "
            "lets its lease run out. Gradient descent minimises the training loss over minibatches of images.")
    assert "sentence not in the material" in ungrounded(text, LEASES, {"Lease"})


def test_an_invented_name_or_number_is_caught():
    assert "'Ongaro'" in ungrounded("Raft, designed by Ongaro, elects a leader.", RAFT, NAMES)
    assert "'2014'" in ungrounded("Raft elects a leader, since 2014.", RAFT, NAMES)


def test_numbers_written_another_way_are_the_same_numbers():
    evidence = ["The 1989 network had about 9760 parameters; tanh squashes to [-1,1]."]
    assert ungrounded("The 1989 network had about 9,760 parameters, and tanh squashes to [-1, 1].",
                      evidence, set()) == ""
    assert "9,761" in ungrounded("The 1989 network had about 9,761 parameters.", evidence, set())


def test_a_date_in_digits_holds_its_month_and_year_spelled_out():
    # A real model's claims on two news pages (the relay run): the pages date themselves
    # "11/19/2019" and "on 2019-11-19"; the claims say "November 2019" and "Dreamforce 2019".
    page = ["5:45 AM PST 11/19/2019 by Patrick Shanley",
            "Stadia launched Tuesday morning.", "Sale ends Nov. 29 at midnight."]
    names = {"Stadia"}
    assert ungrounded("Stadia launched on a Tuesday morning in November 2019.", page, names) == ""
    assert ungrounded("Stadia launched on 19 November.", page, names) == ""
    assert ungrounded("The sale ends on November 29.", page, names) == ""
    assert ungrounded("Dreamforce 2019 hosted Tim Cook.", ["on 2019-11-19", "Tim Cook at Dreamforce."], {"Dreamforce"}) == ""
    # Only the dates the material holds: another month or year is still not in it.
    assert "March" in ungrounded("Stadia launched on a Tuesday morning in March 2019.", page, names)
    assert "2020" in ungrounded("Stadia launched on a Tuesday in November 2020.", page, names)


def test_an_acronym_and_its_words_are_one_name():
    evidence = ["For ConvNets a well-tuned SGD almost always outperforms Adam.",
                "The loss is the mean squared error of the outputs."]
    assert ungrounded("A well-tuned stochastic gradient descent outperforms Adam on ConvNets.", evidence, set()) == ""
    assert ungrounded("The loss is the MSE of the outputs.", evidence, set()) == ""
    assert "'RMS'" in ungrounded("The loss is the RMS of the outputs.", evidence, set())


def test_links_only_to_names_in_the_request():
    assert ungrounded("Raft elects a [[Leader|leader]].", RAFT, NAMES) == ""
    assert "[[Chubby]]" in ungrounded("Raft elects a leader, as [[Chubby]] does.", RAFT, NAMES)


def test_cut_off_and_empty_text_are_caught():
    assert ungrounded("Raft elects a leader that replicates a log of", RAFT, NAMES) == "ends mid-sentence"
    assert ungrounded("  ", RAFT, NAMES) == "no words"


@pytest.mark.corpus
def test_real_model_extractions_joined_are_grounded():
    """A strong model's own definition and claims, joined, must pass: no false rejects there."""
    checked = 0
    for path in sorted((CORPUS / "extractions").glob("*.json")):
        data = json.loads(path.read_text())
        for concept in data.get("concepts", []) if isinstance(data, dict) else []:
            evidence = [concept["definition"], *(c["text"] for c in concept["claims"])]
            names = {concept["name"], *concept["aliases"], data["title"]}
            assert ungrounded(" ".join(dict.fromkeys(evidence)), evidence, names) == "", concept["name"]
            checked += 1
    assert checked > 100
