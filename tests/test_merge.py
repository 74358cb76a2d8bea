"""kbc merge: two vaults from overlapping halves of raw/ merge into what compiling the union
gives, without extracting again; renames, proposals, dry run, resuming."""
import hashlib
import json
import re
import shutil

import pytest
from click.testing import CliRunner

from benchmarks.corpus_vault import CORPUS, build_corpus_vault
from benchmarks.corpus_vault import kbc as corpus_kbc
from benchmarks.merge_tokens import add_decisions_of
from kbc.cli import cli
from kbc.vault import Vault, init_vault
from kbc.vault.links import find_links
from kbc.vault.pages import read_page
from tests.conftest import REPO, endpoint_env
from tests.fixture_model import FixtureModel
from tests.scripted import ScriptedServer

NOTES = sorted((REPO / "raw").glob("*.md"))


def _vault(tmp_path, name, notes, server, compile_it=True):
    root = tmp_path / name
    init_vault(root)
    for note in notes:
        shutil.copy(note, root / "raw" / note.name)
    if compile_it:
        result = _kbc(root, server, "compile", "--json")
        assert result.exit_code == 0, result.output
    return root


def _kbc(root, server, *args):
    return CliRunner(env=endpoint_env(server)).invoke(cli, ["--vault", str(root), *args])


def _shape(root):
    """Every page (but the log) with the set of pages it links."""
    return {p.relative_to(root).as_posix(): {link.target for link in find_links(read_page(p)[1])} - {"log"}
            for p in sorted((root / "wiki").rglob("*.md")) if p.stem != "log"}


def _tokens(root, stage=None):
    db = Vault(root, env={}).db
    sql = "select coalesce(sum(prompt_tokens + completion_tokens), 0), count(*) from requests"
    return db.execute(sql + (" where stage = ?" if stage else ""), [stage] if stage else []).fetchone()


def _decided(root):
    """What consolidation decided about pairs of concept pages (same and renames aside)."""
    db = Vault(root, env={}).db
    page = dict(db.execute("select m.id, c.page from members m join concepts c on c.key = m.concept_key").fetchall())
    out = set()
    for a, b, relation in db.execute("select a, b, relation from decisions where relation not in ('rename', 'same')"):
        pa, pb = page.get(a), page.get(b)
        if pa and pb and pa != pb:
            if relation == "b_part_of_a":
                pa, pb, relation = pb, pa, "a_part_of_b"
            out.add((relation, pa, pb) if relation == "a_part_of_b" else (relation, *sorted((pa, pb))))
    return out


def _digest(root):
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and ".kbc" not in p.parts}


def test_merged_halves_equal_the_union_at_a_fraction_of_its_tokens(tmp_path, server):
    union = _vault(tmp_path, "union", NOTES, server)
    ours = _vault(tmp_path, "ours", NOTES[:2], server)
    theirs = _vault(tmp_path, "theirs", NOTES[1:], server)
    before_theirs, before = _digest(theirs), _tokens(ours)
    result = _kbc(ours, server, "merge", str(theirs), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [(n["source"], n["action"]) for n in report["notes"]] == [
        ("raw/Paxos in brief.md", "duplicate"), ("raw/Raft consensus.md", "add")]
    # Every decision compiling the union makes, the merged vault has; it may know more (pairs
    # a half asked among its own concepts). Given those too, the union is the merged vault.
    assert _decided(union) <= _decided(ours)
    again = tmp_path / "union again"
    shutil.copytree(union, again)
    add_decisions_of(ours, again)
    assert _kbc(again, server, "compile").exit_code == 0
    assert _shape(ours) == _shape(again)
    spent = _tokens(ours)[0] - before[0]
    assert report["compiled"]["new"] == [] and report["compiled"]["changed"] == []  # nothing extracted again
    # The union's consolidation pairs were replayed: only those neither vault decided were asked,
    # and the compile after found nothing left to consolidate.
    assert 0 < report["replay"]["asked"] < report["replay"]["pairs"] and not report["replay"]["stopped"]
    assert Vault(ours, env={}).db.execute("select count(*) from members where considered = 0").fetchone()[0] == 0
    assert 0 < spent < 0.5 * _tokens(union)[0]
    assert _digest(theirs) == before_theirs  # the other vault is only read


def test_renamed_notes_proposals_and_human_pages_kept(tmp_path, server):
    ours = _vault(tmp_path, "ours", NOTES[:1], server, compile_it=False)
    theirs = _vault(tmp_path, "theirs", NOTES[:1], server, compile_it=False)
    (ours / "raw" / "Ideas.md").write_text("# Ideas\n\nQuorum reads see the latest Quorum write.\n")
    (theirs / "raw" / "Ideas.md").write_text("# Ideas\n\nGossip spreads Membership changes in rounds.\n")
    for root in (ours, theirs):
        assert _kbc(root, server, "compile").exit_code == 0
    extracts = _tokens(ours, "extract")
    mine = ours / "wiki" / "concepts" / "Quorum.md"
    mine.write_text(mine.read_text().replace("# Quorum", "# Quorum\n\nMy own note on quorums."))
    page = next(p for p in (theirs / "wiki" / "concepts").glob("*.md") if "Lease" in p.stem)
    page.write_text(page.read_text() + "\nA person added this line in the other vault.\n")
    mine_before = mine.read_text()
    result = _kbc(ours, server, "merge", str(theirs), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    renamed = [n for n in report["notes"] if n["action"] == "rename"]
    assert [(n["source"], n["target"]) for n in renamed] == [("raw/Ideas.md", "raw/Ideas (from theirs).md")]
    assert "Gossip" in (ours / "raw" / "Ideas (from theirs).md").read_text()
    assert "Quorum" in (ours / "raw" / "Ideas.md").read_text()
    # The renamed note brings its extraction and summary along under its new name: not paid twice.
    assert report["compiled"]["new"] == [] and _tokens(ours, "extract") == extracts
    summary = (ours / "wiki" / "sources" / "Ideas (from theirs) (source).md").read_text()
    assert "Source note: [[Ideas (from theirs)]]" in summary and "Gossip" in summary
    assert "Source note: [[Ideas]]" in (ours / "wiki" / "sources" / "Ideas (source).md").read_text()
    assert not _kbc(ours, server, "lint", "--json").exit_code
    proposal = ours / "wiki" / "proposals" / f"{page.stem} (from theirs).md"
    assert "A person added this line" in proposal.read_text() and "kind: proposal" in proposal.read_text()
    assert mine.read_text() == mine_before
    assert any("Gossip" in p.stem for p in (ours / "wiki" / "concepts").glob("*.md"))  # its concepts came over


def test_a_merge_stopped_before_a_renamed_note_was_copied_resumes_under_the_same_names(tmp_path, server):
    ours = _vault(tmp_path, "ours", [], server, compile_it=False)
    theirs = _vault(tmp_path, "theirs", [], server, compile_it=False)
    (ours / "raw" / "Ideas.md").write_text("# Ideas\n\nQuorum reads see the latest Quorum write.\n")
    (theirs / "raw" / "Ideas.md").write_text("# Ideas\n\nGossip spreads Membership changes in rounds.\n")
    for root in (ours, theirs):
        assert _kbc(root, server, "compile").exit_code == 0
    extracts = _tokens(ours, "extract")
    assert _kbc(ours, server, "merge", str(theirs), "--no-compile").exit_code == 0
    (ours / "raw" / "Ideas (from theirs).md").unlink()  # stopped there: rows and pages in, the note not yet
    report = json.loads(_kbc(ours, server, "merge", str(theirs), "--json").stdout)
    assert [n["target"] for n in report["notes"] if n["action"] == "rename"] == ["raw/Ideas (from theirs).md"]
    assert report["compiled"]["new"] == [] and _tokens(ours, "extract") == extracts
    assert sorted(p.stem for p in (ours / "wiki" / "sources").glob("*.md")) == ["Ideas (from theirs) (source)",
                                                                               "Ideas (source)"]


def test_dry_run_changes_nothing_and_a_rerun_resumes_without_repeating(tmp_path, server):
    ours = _vault(tmp_path, "ours", NOTES[:2], server)
    theirs = _vault(tmp_path, "theirs", NOTES[1:], server)
    before, rows = _digest(ours), _tokens(ours)
    result = _kbc(ours, server, "merge", str(theirs), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "notes: 1 would be added, 0 would be added renamed, 1 duplicates" in result.stdout
    assert "tokens: about" in result.stdout and _digest(ours) == before and _tokens(ours) == rows
    assert re.search(r"[1-9]\d* consolidation requests for pairs that meet", result.stdout)  # the replay too
    first = json.loads(_kbc(ours, server, "merge", str(theirs), "--no-compile", "--json").stdout)
    assert sum(t["added"] for t in first["tables"]) > 0 and first["compiled"] is None
    again = json.loads(_kbc(ours, server, "merge", str(theirs), "--no-compile", "--json").stdout)
    assert sum(t["added"] for t in again["tables"]) == 0
    assert [n["action"] for n in again["notes"]] == ["duplicate", "duplicate"]
    extracts = _tokens(ours, "extract")
    compiled = json.loads(_kbc(ours, server, "compile", "--json").stdout)
    assert compiled["new"] == [] and _tokens(ours, "extract") == extracts


def test_a_merge_stopped_by_its_budget_says_to_rerun_the_merge_which_finishes_it(tmp_path, server):
    union = _vault(tmp_path, "union", NOTES, server)
    ours = _vault(tmp_path, "ours", NOTES[:2], server)
    theirs = _vault(tmp_path, "theirs", NOTES[1:], server)
    stopped = _kbc(ours, server, "merge", str(theirs), "--budget", "1")
    assert stopped.exit_code == 3 and f"rerun `kbc merge {theirs}` to finish" in stopped.output
    assert "Traceback" not in stopped.output
    again = json.loads(_kbc(ours, server, "merge", str(theirs), "--json").stdout)
    assert again["replay"]["asked"] > 0 and not again["replay"]["stopped"] and again["compiled"]["new"] == []
    assert _decided(union) <= _decided(ours)


def test_not_a_vault_is_one_line(tmp_path, server):
    ours = _vault(tmp_path, "ours", [], server, compile_it=False)
    result = _kbc(ours, server, "merge", str(tmp_path / "nowhere"))
    assert result.exit_code != 0 and "not a kbc vault to merge" in result.output
    assert "Traceback" not in result.output


def _vaults_with_one_figure_name(tmp_path, server):
    """Two vaults holding different attachments named figure.png; theirs has a note showing its own."""
    ours = _vault(tmp_path, "ours", NOTES[:1], server, compile_it=False)
    theirs = _vault(tmp_path, "theirs", [], server, compile_it=False)
    for root, colour in ((ours, b"red"), (theirs, b"blue")):
        (root / "raw" / "attachments").mkdir(parents=True, exist_ok=True)
        (root / "raw" / "attachments" / "figure.png").write_bytes(b"\x89PNG fake " + colour)
    (theirs / "raw" / "Figures.md").write_text("# Figures\n\nThe Gossip rounds, drawn:\n\n![[figure.png]]\n")
    return ours, theirs


def test_an_attachment_of_the_same_name_comes_over_renamed_and_its_note_follows(tmp_path, server):
    ours, theirs = _vaults_with_one_figure_name(tmp_path, server)
    result = _kbc(ours, server, "merge", str(theirs), "--no-compile", "--json")
    assert result.exit_code == 0, result.output
    moved = {n["source"]: n["target"] for n in json.loads(result.stdout)["notes"] if n["action"] == "rename"}
    assert moved == {"raw/attachments/figure.png": "raw/attachments/figure (from theirs).png"}
    assert (ours / "raw" / "attachments" / "figure.png").read_bytes().endswith(b"red")
    assert (ours / "raw" / "attachments" / "figure (from theirs).png").read_bytes().endswith(b"blue")
    assert "![[figure (from theirs).png]]" in (ours / "raw" / "Figures.md").read_text()
    again = json.loads(_kbc(ours, server, "merge", str(theirs), "--no-compile", "--json").stdout)
    assert {n["action"] for n in again["notes"]} == {"duplicate"}  # a rerun finds it all merged


def test_a_concept_both_vaults_have_keeps_our_key_and_page_though_theirs_is_larger(tmp_path, server):
    leases, others = [n for n in NOTES if n.stem == "Leases"], [n for n in NOTES if n.stem != "Leases"]
    ours = _vault(tmp_path, "ours", leases, server)
    theirs = _vault(tmp_path, "theirs", others, server)  # two sources on Paxos: the larger cluster
    assert _kbc(ours, server, "merge", str(theirs), "--json").exit_code == 0
    props, _ = read_page(ours / "wiki" / "concepts" / "Paxos.md")
    assert props["kind"] == "concept" and len(props["sources"]) == 3
    assert not (ours / "wiki" / "concepts" / "Paxos (concept).md").exists()


def test_a_note_whose_attachment_link_follows_a_rename_is_not_extracted_again(tmp_path, server):
    ours, theirs = _vaults_with_one_figure_name(tmp_path, server)
    for root in (ours, theirs):
        assert _kbc(root, server, "compile").exit_code == 0
    extracts = _tokens(ours, "extract")
    result = _kbc(ours, server, "merge", str(theirs), "--json")
    assert result.exit_code == 0, result.output
    assert "![[figure (from theirs).png]]" in (ours / "raw" / "Figures.md").read_text()
    assert json.loads(result.stdout)["compiled"]["new"] == [] and _tokens(ours, "extract") == extracts
    assert json.loads(_kbc(ours, server, "compile", "--json").stdout)["changed"] == []


@pytest.mark.corpus
def test_concepts_meeting_across_vaults_get_the_decisions_compiling_the_union_makes(tmp_path):
    """A real paper in one vault, the sample notes in the other: the paper's Paxos leader is
    one of the candidates the union asks each Raft concept about (the answer keeps them apart);
    neither vault could ask it, so the merge must, or Raft pages list the Paxos leader."""
    notes = sorted((REPO / "raw").glob("*.md"))
    paper = CORPUS / "papers" / "paxos-made-simple.pdf"
    with ScriptedServer(FixtureModel()) as server:
        union = build_corpus_vault(tmp_path / "union", server, [paper, *notes])
        ours = build_corpus_vault(tmp_path / "ours", server, [paper, notes[1]])
        theirs = build_corpus_vault(tmp_path / "theirs", server, notes)
        report = json.loads(corpus_kbc(ours, "merge", str(theirs), "--json", server=server).stdout)
    assert report["compiled"]["new"] == [] and 0 < report["replay"]["asked"] < report["replay"]["pairs"]
    assert _shape(ours) == _shape(union)


def test_the_tables_merge_imports_exist(tmp_path):
    """What a vault paid for comes over table by table: a table renamed or dropped by a
    migration must not silently stop coming over (a new table stays out until listed)."""
    from kbc.merge.rows import IMPORT_TABLES, _tables

    root = tmp_path / "vault"
    init_vault(root)
    assert IMPORT_TABLES <= set(_tables(Vault(root, env={}).db.conn))
