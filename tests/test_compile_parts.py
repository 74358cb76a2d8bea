"""A concept with more material than one write request holds is written in parts (groups of its
sources) and merged from the parts' answers: every request fits a small context window, every
source stays cited, and a rerun sends nothing."""
import json

from kbc.compile import compile_vault
from kbc.llm.prompts import text_of
from kbc.vault.pages import read_page
from tests.conftest import make_llm, open_vault, templates
from tests.scripted import count_tokens

WINDOW = 4096


FACTS = ["lets a cluster agree on one value although a minority of replicas fail",
         "needs a majority of acceptors to answer every proposer round",
         "stalls when two proposers keep competing for the same ballot",
         "was described by Lamport as a parliament on a Greek island",
         "separates proposers, acceptors and learners into three roles",
         "orders ballots by number so that an old proposal cannot win",
         "is hard to teach, which led researchers toward simpler protocols",
         "keeps a log of chosen values when it runs as a replicated state machine",
         "tolerates lost and reordered messages but not malicious nodes",
         "elects a distinguished proposer to avoid duelling ballots in practice",
         "underlies the lock service that coordinates large storage systems",
         "commits a value once any quorum of acceptors has accepted it"]


def paxos_notes(raw, count: int, start: int = 0) -> None:
    for i in range(start, start + count):
        facts = [FACTS[(i + k * 5) % len(FACTS)] for k in range(3)]
        (raw / f"paxos note {i:02d}.md").write_text(
            f"# Paxos note {i}\n\n" + "".join(f"In setting {i * 3 + k}, Paxos {fact}.\n\n"
                                              for k, fact in enumerate(facts)))


def requests_of(server, title: str) -> list[dict]:
    return [r for r in server.requests if title in json.dumps(r.get("response_format") or {})]


def fits(request: dict) -> bool:
    return count_tokens(text_of(request["messages"])) + request["max_tokens"] <= WINDOW


def test_a_concept_bigger_than_the_window_is_written_in_parts_and_merged(vault_dir, server):
    paxos_notes(vault_dir / "raw", 40)
    vault = open_vault(vault_dir, server, context_window=WINDOW)
    report = compile_vault(vault, make_llm(vault, server), templates(vault))
    assert not report.errors and len(report.new) == 40
    writes = requests_of(server, "concept_articles")
    merges = [r for r in writes if "Partial article 1:" in r["messages"][-1]["content"]]
    assert merges, "the Paxos page was written in one request"
    assert all(fits(r) for r in writes), [count_tokens(text_of(r["messages"])) for r in writes if not fits(r)]
    page = vault_dir / "wiki" / "concepts" / "Paxos.md"
    props, body = read_page(page)
    assert len(props["sources"]) == 40  # every source cited: nothing cut
    assert props["kbc_prompt"] == templates(vault).version("prompts/write.j2")  # merged prose, not the fallback
    assert "Paxos" in body.split("## Sources")[0] and body.count("(source)]]: lines") == 40

    sent, before = len(server.requests), page.read_bytes()
    vault = open_vault(vault_dir, server, context_window=WINDOW)
    again = compile_vault(vault, make_llm(vault, server), templates(vault))
    assert len(server.requests) == sent and not again.written and page.read_bytes() == before

    paxos_notes(vault_dir / "raw", 1, start=40)  # one more source: an update of the merged article
    vault = open_vault(vault_dir, server, context_window=WINDOW)
    more = compile_vault(vault, make_llm(vault, server), templates(vault))
    assert not more.errors and "Paxos" in more.written
    assert all(fits(r) for r in requests_of(server, "concept_articles")[len(writes):])
    assert len(read_page(page)[0]["sources"]) == 41


def test_a_merge_the_endpoint_fails_is_retried_next_run_and_the_parts_come_from_the_cache(vault_dir):
    from tests.scripted import ScriptedServer

    class MergeFails(ScriptedServer):
        failing = True

        def handle(self, path, body):
            if self.failing and "Partial article 1:" in body["messages"][-1]["content"]:
                self.requests.append(body)
                return 500, {"error": {"message": "merge: scripted failure"}}
            return super().handle(path, body)

    def parts(server):
        return [r for r in requests_of(server, "concept_articles")
                if "Partial article" not in r["messages"][-1]["content"]]

    with MergeFails() as server:
        paxos_notes(vault_dir / "raw", 30)
        vault = open_vault(vault_dir, server, context_window=WINDOW)
        first = compile_vault(vault, make_llm(vault, server), templates(vault))
        page = vault_dir / "wiki" / "concepts" / "Paxos.md"
        assert (first.errors or first.stopped) and not page.exists()  # reported; nothing half-made written
        server.failing, asked = False, len(parts(server))
        vault = open_vault(vault_dir, server, context_window=WINDOW)
        second = compile_vault(vault, make_llm(vault, server), templates(vault))
        assert not second.errors and "Paxos" in second.written
        assert read_page(page)[0]["kbc_prompt"] != "claims" and len(read_page(page)[0]["sources"]) == 30
        assert len(parts(server)) == asked  # the parts' answers came from the response cache
