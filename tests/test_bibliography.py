"""A paper's reference list is not sent to extraction; everything of substance around it is."""
import pytest

from kbc.compile.sources import numbered_lines
from kbc.ingest.pdf import convert_pdf
from kbc.vault.bibliography import bibliography
from tests.conftest import CORPUS

PROSE = [f"Paragraph {n} says something about consensus and quorums." for n in range(12)]


def test_a_headed_list_ends_where_an_appendix_begins():
    lines = PROSE + ["References", "", "[1] Leslie Lamport. Paxos made simple. ACM SIGACT News, 2001.", "",
                     "[2] Jim Gray. Sort benchmark home page. http://example.org/sort/.", "12", "<!-- page 13 -->",
                     "[3] L. Huston, R. Sukthankar. Diamond: A storage architecture for early discard",
                     "active search. In Proceedings of FAST, April 2004.", "[4] R. Ladner. Parallel prefix. 1980.",
                     "", "A Word Frequency", "This section contains a program that counts words."]
    found = bibliography(lines)
    assert lines[found.start] == "References" and lines[found.stop - 1].startswith("[4]")
    sent = "\n".join(numbered_lines("\n".join(lines)))
    assert "Lamport" not in sent and "Huston" not in sent and "active search" not in sent
    assert "A Word Frequency" in sent and "counts words" in sent and "Paragraph 11" in sent


def test_a_markdown_list_of_wrapped_entries_is_one_list():
    lines = PROSE + ["## References", "", "-   Cho, J., Garcia-Molina, H., & Page, L. (1998). Efficient crawling",
                     "    through URL ordering. *Computer networks and ISDN systems*, 30(1-7),", "    161–172.",
                     "-   Edwards, J., McCurley, K. S., and Tomlin, J. A. (2001). \"An adaptive model for",
                     "    optimizing performance of an incremental web crawler\"."]
    assert bibliography(lines) == range(12, len(lines))


def test_a_pdf_line_of_fused_entries_and_a_headless_list_are_lists():
    fused = PROSE + ["REFERENCES [1] Adya, A., Bolosky, W. J., and Castro, M. 2002. Farsite. [2] Bernstein, P.A., "
                     "and Goodman, N. Concurrency control. 1984."]
    assert bibliography(fused) == range(12, 13)
    headless = PROSE + ["[1] Anawat Chankhunthod, Peter Danzig. A Hierarchical Internet Object Cache. 1996.",
                        "[2] Robert Devine. Design and Implementation of DDH. 1993."]
    assert bibliography(headless) == range(12, 14)


def test_prose_that_looks_like_a_heading_or_an_entry_is_kept():
    contents = PROSE + ["References 11", "The protocol then elects a leader."]
    assert not bibliography(contents)
    cited = PROSE + ["[1] showed that a majority quorum suffices, and we build on it."]
    assert not bibliography(cited)
    early = ["References", "[1] Leslie Lamport. Paxos made simple. 2001."] + PROSE  # first half: a note's reading list
    assert not bibliography(early)


@pytest.mark.corpus
def test_the_corpus_papers_reference_lists_are_left_out():
    listed = {}
    for pdf in sorted((CORPUS / "papers").glob("*.pdf")):
        body = convert_pdf(pdf.read_bytes(), pdf.name, pdf.stem).body
        found = bibliography(body.split("\n"))
        listed[pdf.stem] = len(found)
        sent = "\n".join(numbered_lines(body))
        assert len(sent) > len(body) / 2  # the paper itself is sent
        if pdf.stem.startswith("mapreduce"):
            assert found and "Word Frequency" in sent  # its appendix follows the list
    assert sum(1 for lines in listed.values() if lines) == 6, listed
