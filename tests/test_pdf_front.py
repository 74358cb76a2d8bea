"""PDF titles that wrap over lines and author lists split into people, from the first page."""
from pathlib import Path

import pytest

from kbc.ingest.frontpage import is_person, split_people
from kbc.ingest.pdf import convert_pdf
from tests.conftest import CORPUS


def first_page_pdf(path: Path, lines: list[tuple[float, str, float, float]]) -> Path:
    """A one-page PDF with real text: (size in pt, text, x from left 0..1, y from top in inches)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.5, 11))
    for size, text, x, y in lines:
        fig.text(x, 1 - y / 11, text, fontsize=size, ha="center", va="top")
    fig.savefig(path, format="pdf")
    return path


BODY = [(10, "Abstract", 0.5, 3.6),
        (10, "When designing distributed web services, there are three properties that are commonly", 0.5, 3.9),
        (10, "desired: consistency, availability, and partition tolerance; all three cannot be had.", 0.5, 4.07)]


def test_a_title_over_three_lines_and_authors_with_footnote_marks(tmp_path):
    # The third title line holds one word whose S overshoots the other lines' cap height.
    pdf = first_page_pdf(tmp_path / "brewer.pdf", [
        (17, "Brewer’s Conjecture and the Feasibility of", 0.5, 1.0),
        (17, "Consistent, Available, Partition-Tolerant Web", 0.5, 1.35),
        (17, "Services", 0.5, 1.7),
        (12, "Seth Gilbert∗   Nancy Lynch†", 0.5, 2.2), *BODY,
        (8, "∗Laboratory for Computer Science, Massachusetts Institute of Technology, Cambridge, MA 02139.", 0.5, 10)])
    note = convert_pdf(pdf.read_bytes(), str(pdf), "brewer")
    assert note.title == ("Brewer’s Conjecture and the Feasibility of Consistent, Available, "
                          "Partition-Tolerant Web Services")
    assert note.author == ["Seth Gilbert", "Nancy Lynch"]


def test_authors_among_addresses_and_affiliations(tmp_path):
    pdf = first_page_pdf(tmp_path / "chain.pdf", [
        (17, "Chain Replication for Supporting", 0.5, 1.0),
        (17, "High Throughput and Availability", 0.5, 1.35),
        (12, "Robbert van Renesse", 0.5, 1.9), (10, "rvr@cs.cornell.edu", 0.5, 2.1),
        (12, "Fred B. Schneider", 0.5, 2.4), (10, "fbs@cs.cornell.edu", 0.5, 2.6),
        (10, "FAST Search & Transfer ASA", 0.5, 2.9), (10, "Tromsø, Norway", 0.5, 3.1), *BODY])
    note = convert_pdf(pdf.read_bytes(), str(pdf), "chain")
    assert note.title == "Chain Replication for Supporting High Throughput and Availability"
    assert note.author == ["Robbert van Renesse", "Fred B. Schneider"]


def test_authors_set_side_by_side(tmp_path):
    pdf = first_page_pdf(tmp_path / "side.pdf", [
        (17, "Chain Replication for Supporting", 0.5, 1.0),
        (17, "High Throughput and Availability", 0.5, 1.35),
        (12, "Robbert van Renesse", 0.3, 1.9), (12, "Fred B. Schneider", 0.7, 1.9),
        (10, "Cornell University", 0.3, 2.1), (10, "Cornell University", 0.7, 2.1), *BODY])
    note = convert_pdf(pdf.read_bytes(), str(pdf), "side")
    assert note.author == ["Robbert van Renesse", "Fred B. Schneider"]


@pytest.mark.parametrize("line, people", [
    ("J.H. Saltzer, D.P. Reed and D.D. Clark*", ["J.H. Saltzer", "D.P. Reed", "D.D. Clark"]),
    ("Mike Burrows, Google Inc.", ["Mike Burrows"]),
    ("Leslie Lamport1", ["Leslie Lamport"]),
    ("Giuseppe DeCandia, Deniz Hastorun, Peter Vosshall and Werner Vogels",
     ["Giuseppe DeCandia", "Deniz Hastorun", "Peter Vosshall", "Werner Vogels"]),
    ("Department of Computer Science", []), ("Ithaca, New York 14853", []), ("01 Nov 2001", []),
])
def test_people_in_one_line(line, people):
    assert [p for p in split_people(line) if is_person(p)] == people


@pytest.mark.corpus
def test_every_corpus_papers_title_and_authors():
    expected = {
        "consistent-hashing-and-random-trees": (
            "Consistent Hashing and Random Trees: Distributed Caching Protocols for Relieving Hot Spots "
            "on the World Wide Web",
            ["David Karger", "Eric Lehman", "Tom Leighton", "Matthew Levine", "Daniel Lewin", "Rina Panigrahy"]),
        "dynamo-amazons-highly-available-key-value-store": (
            "Dynamo: Amazon’s Highly Available Key-value Store",
            ["Giuseppe DeCandia", "Deniz Hastorun", "Madan Jampani", "Gunavardhan Kakulapati",
             "Avinash Lakshman", "Alex Pilchin", "Swaminathan Sivasubramanian", "Peter Vosshall",
             "Werner Vogels"]),
        "end-to-end-arguments-in-system-design": (
            "END-TO-END ARGUMENTS IN SYSTEM DESIGN", ["J.H. Saltzer", "D.P. Reed", "D.D. Clark"]),
        "mapreduce-simplified-data-processing-on-large-clusters": (
            "MapReduce: Simplified Data Processing on Large Clusters", ["Jeffrey Dean", "Sanjay Ghemawat"]),
        "paxos-made-simple": ("Paxos Made Simple", ["Leslie Lamport"]),
        "the-chubby-lock-service-for-loosely-coupled-distributed-systems": (
            "The Chubby lock service for loosely-coupled distributed systems", ["Mike Burrows"]),
    }
    papers = sorted((CORPUS / "papers").glob("*.pdf"))
    assert {p.stem for p in papers} == set(expected)
    for paper in papers:
        note = convert_pdf(paper.read_bytes(), str(paper), paper.stem)
        assert (note.title, note.author) == expected[paper.stem]
