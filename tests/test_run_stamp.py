"""A rerun with nothing changed since the last complete compile returns at once (the run's
stamp, kbc/compile/run_stamp.py); any change a compile's outcome depends on makes it do the
real work. Real files, real SQLite, the scripted endpoint."""
import json
import os
import subprocess
import sys

from kbc.compile import CompileOptions, compile_vault
from kbc.compile.manifest import Manifest
from kbc.compile.rows import Decision
from kbc.llm import LLM, OpenAIBackend
from kbc.vault.links import find_links
from tests.conftest import endpoint_env, make_llm, open_vault, templates


def run(root, server, budget=0, llm=None, vault=None, **options):
    vault = vault or open_vault(root, server)
    llm = llm or make_llm(vault, server, budget=budget)
    return compile_vault(vault, llm, templates(vault), CompileOptions(**options))


def wiki_files(root) -> dict:
    """Every wiki file's bytes and mtime: a page rewritten, even identically, shows."""
    return {p.relative_to(root).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in (root / "wiki").rglob("*") if p.is_file()}


def backlinks(root, page: str) -> list[str]:
    text = (root / "wiki" / "concepts" / f"{page}.md").read_text()
    return [link.target for link in find_links(text.split("## Backlinks", 1)[-1])]


def forget_stamp(root) -> None:
    """What a run does first: the next run is a real one."""
    import sqlite3

    with sqlite3.connect(root / ".kbc" / "kbc.db") as db:
        db.execute("delete from run_stamp")


def test_a_second_compile_sends_nothing_rewrites_nothing_and_reports_as_a_real_rerun(sample_vault, server):
    first = run(sample_vault, server)
    assert len(first.new) == 3 and not first.errors
    sent, before = len(server.requests), wiki_files(sample_vault)
    again = run(sample_vault, server)
    assert len(server.requests) == sent and wiki_files(sample_vault) == before
    forget_stamp(sample_vault)
    real = run(sample_vault, server)  # the same rerun, done in full
    assert real.to_dict() == again.to_dict() and again.unchanged == 3 and not again.new


def test_the_json_report_of_a_stamped_rerun_has_the_shape_of_a_real_one(sample_vault, server):
    env = {**os.environ, **endpoint_env(server), "KBC_VAULT": str(sample_vault)}

    def compile_json():
        done = subprocess.run([sys.executable, "-m", "kbc", "compile", "--json"], env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    compile_json()
    forget_stamp(sample_vault)
    real = compile_json()  # a real no-change rerun, which leaves a stamp
    sent = len(server.requests)
    stamped = compile_json()
    assert stamped == real and stamped["tokens"]["requests"] == 0 and len(server.requests) == sent


def test_a_page_edited_by_hand_is_read_by_the_next_compile(sample_vault, server):
    run(sample_vault, server)
    names = sorted(p.stem for p in (sample_vault / "wiki" / "concepts").glob("*.md"))
    source, target = next((a, b) for b in names for a in names if a != b and a not in backlinks(sample_vault, b))
    page = sample_vault / "wiki" / "concepts" / f"{source}.md"
    page.write_text(page.read_text().replace("## Related", f"A person's note: see [[{target}]].\n\n## Related", 1))
    run(sample_vault, server)
    assert source in backlinks(sample_vault, target)


def test_a_note_changed_in_place_with_its_size_kept_is_compiled_again(sample_vault, server):
    run(sample_vault, server)
    note = sample_vault / "raw" / "Leases.md"
    text = note.read_text()
    stat = note.stat()
    changed = text.replace("lease", "LEASE", 1)
    assert changed != text and len(changed) == len(text)
    note.write_text(changed)
    os.utime(note, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # even its mtime put back
    sent = len(server.requests)
    report = run(sample_vault, server)
    assert report.changed == ["raw/Leases.md"] and len(server.requests) > sent


def test_a_note_added_removed_or_renamed_is_compiled(sample_vault, server):
    run(sample_vault, server)
    raw = sample_vault / "raw"
    (raw / "Quorum.md").write_text("# Quorum\n\nA quorum is a majority of the replicas in Paxos.\n")
    assert run(sample_vault, server).new == ["raw/Quorum.md"]
    (raw / "Quorum.md").rename(raw / "Quorums.md")
    assert run(sample_vault, server).renamed == ["raw/Quorum.md -> raw/Quorums.md"]
    (raw / "Quorums.md").unlink()
    assert run(sample_vault, server).removed == ["raw/Quorums.md"]
    assert run(sample_vault, server).unchanged == 3


def test_a_changed_merges_file_or_a_decision_stored_by_another_command_is_applied(sample_vault, server):
    run(sample_vault, server)
    pages = lambda: sorted(p.stem for p in (sample_vault / "wiki" / "concepts").glob("*.md"))  # noqa: E731
    assert {"Chubby", "Google"} <= set(pages())
    (sample_vault / "kbc-merges.toml").write_text('same = [["Chubby", "Google"]]\n')
    report = run(sample_vault, server)
    assert report.merged and "Google" not in [p for p in pages() if "redirect" not in
                                              (sample_vault / "wiki" / "concepts" / f"{p}.md").read_text()]
    (sample_vault / "kbc-merges.toml").unlink()
    run(sample_vault, server)
    vault = open_vault(sample_vault, server)
    manifest = Manifest(vault)
    members = {m.name: m.id for m in manifest.members()}
    manifest.add_decisions([Decision(members["Raft"], members["Leslie Lamport"], "same", "Raft", "person")])
    assert run(sample_vault, server, vault=vault).merged


def test_another_model_or_template_makes_a_real_run(sample_vault, server):
    assert run(sample_vault, server).stale == []
    vault = open_vault(sample_vault, server, model="other")
    other = LLM(OpenAIBackend(server.base_url, "other", "test"), vault.db, vault.db_lock)
    assert "Paxos" in run(sample_vault, server, llm=other, vault=vault).stale  # pages by "scripted"
    assert run(sample_vault, server).stale == []
    custom = sample_vault / "templates" / "prompts"
    custom.mkdir(parents=True)
    write = templates(open_vault(sample_vault, server)).env.loader.get_source(None, "prompts/write.j2")[0]
    (custom / "write.j2").write_text(write.replace("You write wiki articles", "You write short wiki articles"))
    assert "Paxos" in run(sample_vault, server).stale


def stamped(root) -> bool:
    import sqlite3

    with sqlite3.connect(root / ".kbc" / "kbc.db") as db:
        return bool(db.execute("select count(*) from run_stamp").fetchone()[0])


def test_a_stopped_run_leaves_no_stamp_and_the_next_run_finishes_its_work(sample_vault, server):
    run(sample_vault, server)
    assert stamped(sample_vault)
    assert run(sample_vault, server, budget=1, full=True).stopped  # nothing changed, yet the stamp goes
    assert not stamped(sample_vault)
    run(sample_vault, server)
    assert stamped(sample_vault)
    (sample_vault / "raw" / "Quorum.md").write_text("# Quorum\n\nA quorum is a majority of replicas, as in Raft.\n")
    stopped = run(sample_vault, server, budget=1)
    assert stopped.stopped
    sent = len(server.requests)
    finished = run(sample_vault, server)
    assert finished.new == ["raw/Quorum.md"] and len(server.requests) > sent and not finished.stopped
    assert (sample_vault / "wiki" / "sources" / "Quorum (source).md").exists()


def test_a_note_saved_while_compile_ran_is_compiled_by_the_next_run(sample_vault, server):
    # The scripted model answers the first extraction slowly; the note is edited meanwhile:
    # the run read the old text, so it leaves no stamp, and the next run reads the new one.
    import threading
    import time

    server.delays["source_extraction"] = 1.5
    note = sample_vault / "raw" / "Leases.md"
    edit = threading.Timer(0.7, lambda: note.write_text(note.read_text() + "\nLeases expire after a timeout.\n"))
    edit.start()
    run(sample_vault, server)
    edit.join()
    server.delays.clear()
    time.sleep(0.01)
    assert run(sample_vault, server).changed == ["raw/Leases.md"]


def test_past_the_racy_window_an_edit_with_its_size_and_mtime_kept_is_still_seen(sample_vault, server):
    # Files older than the racy window are trusted by stat: inode, mtime, size and ctime,
    # which no tool sets back.
    import time

    from kbc.vault.files import SETTLED_NS

    run(sample_vault, server)
    time.sleep(SETTLED_NS / 1e9 + 0.2)
    forget_stamp(sample_vault)
    run(sample_vault, server)  # stamps files that are all past the window now
    note = sample_vault / "raw" / "Paxos in brief.md"
    stat, text = note.stat(), note.read_text()
    with open(note, "r+") as handle:  # in place: the same inode
        handle.write(text.swapcase()[:8])
    os.utime(note, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert note.stat().st_size == stat.st_size and note.stat().st_ino == stat.st_ino
    assert run(sample_vault, server).changed == ["raw/Paxos in brief.md"]


def test_searching_and_asking_keep_the_stamp_a_linked_folder_allows_none(sample_vault, server):
    from kbc.compile.run_stamp import RunStamp
    from kbc.search import Searcher

    run(sample_vault, server)
    vault = open_vault(sample_vault, server)
    assert Searcher(vault).search("paxos")  # writes the search index; the ledger and cache too
    with vault.db_lock, vault.db.conn:
        vault.db.execute("insert into requests (stage, model) values ('ask', 'scripted')")
    assert RunStamp(vault, "scripted").replay() is not None
    assert RunStamp(vault, "other").replay() is None
    outside = sample_vault.parent / "elsewhere"
    outside.mkdir()
    (sample_vault / "raw" / "linked").symlink_to(outside, target_is_directory=True)
    run(sample_vault, server)
    assert not stamped(sample_vault)
