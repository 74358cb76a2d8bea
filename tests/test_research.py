"""kbc research: plan, retrieve, read, iterate for what is missing, cited report, in budget."""
import json

from click.testing import CliRunner

from kbc.cli import cli
from kbc.vault import Vault
from kbc.vault.frontmatter import split
from kbc.vault.links import find_links, link_key


def _research(*args):
    result = CliRunner().invoke(cli, ["research", "--json", *args])
    return result, (json.loads(result.stdout) if result.stdout.startswith("{") else None)


def _ledger(vault_dir, run_id):
    db = Vault(vault_dir, env={}).db
    return list(db.query("select * from requests where run_id = ? and stage = 'research'", [run_id]))


def test_research_files_a_report_citing_only_pages_it_read(sample_vault, server, env):
    assert CliRunner().invoke(cli, ["compile"]).exit_code == 0
    result, work = _research("How do Paxos and Raft use leases?")
    assert result.exit_code == 0, result.output
    assert len(work["sub_questions"]) == 3 and work["stopped"] == "the notes answer the question"
    # Narrower searches read the source notes' own lines too, and no line is sent twice.
    assert set(work["read"]) & {p.stem for p in (sample_vault / "raw").glob("*.md")}
    read_prompts = [r for r in server.requests if "research_step" in json.dumps(r.get("response_format"))]
    lines = [line for r in read_prompts for line in r["messages"][-1]["content"].split("New pages:")[1].split("\n")
             if len(line.split()) > 5 and not line.startswith("===")]
    assert len(lines) == len(set(lines)), [line for line in lines if lines.count(line) > 1]
    assert [s["kind"] for s in work["steps"]][0] == "plan" and work["steps"][-1]["kind"] == "write"
    page = sample_vault / work["page"]
    props, body = split(page.read_text())
    assert work["page"].startswith("wiki/outputs/") and props["kind"] == "report" and "research" in props["tags"]
    names = {link_key(p.stem) for p in (sample_vault / "wiki").rglob("*.md")}
    read = {link_key(n) for n in work["read"]}
    links = [link.target for link in find_links(body.split("## Research log")[0])]
    assert links and all(link_key(t) in names for t in links)
    assert {link_key(s.strip("[]")) for s in props["sources"]} <= read
    # Every request is in the ledger, and the report's step table adds up to it.
    rows = _ledger(sample_vault, work["run_id"])
    assert len(rows) == sum(1 for s in work["steps"] if s["prompt_tokens"])
    assert sum(r["prompt_tokens"] + r["completion_tokens"] for r in rows) == work["tokens"]
    assert "## Research log" in body and f"Total {work['tokens']:,} tokens" in body
    assert "[[" + work["page"].rsplit("/", 1)[1][:-3] + "]]" in (sample_vault / "wiki" / "indexes" / "Index of outputs.md").read_text()


def test_what_the_wiki_lacks_is_searched_again_then_reported_and_never_fetched(sample_vault, server, env):
    assert CliRunner().invoke(cli, ["compile"]).exit_code == 0
    raw_before = sorted(p.name for p in (sample_vault / "raw").iterdir())
    result, work = _research("What do Paxos and Zookeeper share?")
    assert result.exit_code == 0
    reads = [s for s in work["steps"] if s["kind"] == "read"]
    assert len(reads) == 2 and "Zookeeper" in work["missing"][0]
    assert "Zookeeper" in reads[1]["queries"] and reads[1]["pages"] == [] and not reads[1]["prompt_tokens"]
    assert work["stopped"] == "the wiki has nothing more on the open questions"
    body = (sample_vault / work["page"]).read_text()
    assert "## Not answered by the wiki" in body and "https://example.org/more" in body
    assert sorted(p.name for p in (sample_vault / "raw").iterdir()) == raw_before
    text = CliRunner().invoke(cli, ["research", "What do Paxos and Zookeeper share?"]).output
    assert "suggested source (not fetched): https://example.org/more" in text


def test_research_stays_within_its_budget(sample_vault, server, env):
    assert CliRunner().invoke(cli, ["compile"]).exit_code == 0
    question = "How do Paxos and Raft use leader election and leases in Chubby?"
    for budget in (1500, 3000, 6000):
        result, work = _research(question, "--budget", str(budget))
        rows = _ledger(sample_vault, work["run_id"])
        assert work["tokens"] <= budget and sum(r["prompt_tokens"] + r["completion_tokens"] for r in rows) <= budget
        assert result.exit_code == (0 if work["notes"] else 1)
    assert work["page"] and work["steps"][-1]["kind"] == "write"
    result, tight = _research("What do leases depend on in Chubby?", "--budget", "1500")
    assert tight["steps"][0]["note"].startswith("skipped") and tight["tokens"] <= 1500


def test_an_empty_wiki_gives_no_report(vault_dir, server, env):
    result, work = _research("What is a lease?")
    assert result.exit_code == 1 and work["page"] == "" and work["notes"] == []
    assert not (vault_dir / "wiki" / "outputs").exists()
