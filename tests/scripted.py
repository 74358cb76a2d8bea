"""A scripted OpenAI-compatible HTTP server on 127.0.0.1, for tests and benchmarks.

It speaks /v1/chat/completions for real (the openai client talks to it over HTTP) and
answers either from a script of canned replies (errors, cut-offs, bad JSON) or from a
deterministic "model" that produces schema-valid answers from the prompt. Like vLLM, it
keeps a prefix cache and reports `prompt_tokens_details.cached_tokens` in 16-token blocks.
"""
from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.scripted_batch import BatchEndpoints

BLOCK = 16


def text_of(message: dict) -> str:
    content = message["content"]
    return content if isinstance(content, str) else "".join(p.get("text", "") for p in content)


def count_tokens(text: str) -> int:
    return (len(text) + 3) // 4


class ScriptedModel:
    """Deterministic answers that fit kbc's schemas, made from the words of the prompt."""

    def answer(self, body: dict) -> str:
        schema = ((body.get("response_format") or {}).get("json_schema") or {}).get("schema")
        prompt = text_of(body["messages"][-1])
        images = [p for p in body["messages"][-1]["content"] if p.get("type") == "image_url"] \
            if isinstance(body["messages"][-1]["content"], list) else []
        if images:
            size = len(images[0]["image_url"]["url"])
            return f"A picture sent as a {size}-character data URI; it shows a figure."
        if schema is None:
            return self.text_answer(body)
        title = schema.get("title")
        handler = getattr(self, f"answer_{title}", None)
        if handler:
            data = handler(prompt, body)
            if isinstance(data, dict):  # a field kbc added since the handler was written gets a default
                for key in schema.get("required", []):
                    data.setdefault(key, [] if schema["properties"][key].get("type") == "array"
                                    else fill(schema["properties"][key], prompt))
            return json.dumps(data)
        return json.dumps(fill(schema, prompt))

    def text_answer(self, body: dict) -> str:
        pages = sorted(set(re.findall(r"^=== (.+?) ===$", body["messages"][-1]["content"], re.M)))
        cited = " ".join(f"[[{p}]]" for p in pages[:3])
        return f"According to the wiki, this is answered in {cited}." if pages else \
            "The wiki does not hold the answer to this question."

    def answer_source_extraction(self, prompt: str, body: dict) -> dict:
        title = re.search(r'Source "(.+?)"', prompt)
        lines = re.findall(r"^(\d+)\| (.*)$", prompt, re.M)
        text = " ".join(line for _, line in lines)
        terms = Counter(m for m in re.findall(r"\b([A-Z][a-z]{3,}(?: [A-Z][a-z]{3,})?)\b", text))
        names = [t for t, n in terms.most_common(12) if n >= 1][:6]
        concepts = []
        for name in names:
            hits = [(num, line) for num, line in lines if name in line][:3]
            concepts.append({
                "name": name,
                "aliases": [],
                "category": "system" if len(name) % 2 else "idea",
                "definition": f"{name} as described in the source.",
                "claims": [{"text": _sentence_with(line, name), "lines": num} for num, line in hits],
            })
        summary = " ".join(line for _, line in lines[:3])[:400] or "An empty source."
        return {"title": title.group(1) if title else "Untitled", "summary": summary, "concepts": concepts}

    def answer_concept_articles(self, prompt: str, body: dict) -> dict:
        item = prompt.split("Existing pages:", 1)[-1]
        articles = []
        for block in re.split(r"^## ", item, flags=re.M)[1:]:
            name = block.split("\n", 1)[0].strip()
            # "- [2] claim", or "- [1][3] paragraph" of a partial article to merge
            claims = re.findall(r"^- ((?:\[\d+\])+) (.+)$", block, re.M)
            numbers = {int(n) for marks, _ in claims for n in re.findall(r"\d+", marks)}
            kept = []  # whole claims, up to about 600 characters: never cut mid-sentence
            for _, text in claims:
                if kept and len(" ".join(kept + [text])) > 600:
                    break
                kept.append(text)
            paragraph = " ".join(t if t.endswith((".", "!", "?")) else t + "." for t in kept) \
                or f"{name} is a concept."
            articles.append({"name": name, "paragraphs": [
                {"text": paragraph, "sources": sorted(numbers) or [1]}]})
        return {"articles": articles}


    def answer_concept_decisions(self, prompt: str, body: dict) -> dict:
        """Concepts with one name are the same; two named by one source are related (as a
        reader would judge things one short note discusses together); the rest are different."""
        lines = dict(re.findall(r"^(C\d+): (.+)$", prompt, re.M))
        names = {label: re.split(r" \(also:| \|", rest, maxsplit=1)[0].strip().casefold()
                 for label, rest in lines.items()}
        origins = {label: set(rest.split(" | from: ", 1)[-1].split(" | ", 1)[0].split("; "))
                   for label, rest in lines.items()}

        def relation(a: str, b: str) -> str:
            if names.get(a) == names.get(b):
                return "same"
            return "related" if origins.get(a, set()) & origins.get(b, set()) else "different"

        decisions = [{"pair": pair, "relation": relation(a, b), "name": ""}
                     for pair, a, b in re.findall(r"^(P\d+): (C\d+) / (C\d+)$", prompt, re.M)]
        return {"decisions": decisions, "renames": []}

    def answer_concept_health(self, prompt: str, body: dict) -> dict:
        names = re.findall(r"^## Concept: (.+)$", prompt, re.M)
        return {"concepts": [{"name": n, "contradictions": [], "unsupported": []} for n in names]}

    def answer_next_questions(self, prompt: str, body: dict) -> dict:
        concepts = prompt.split("Concepts with pages:", 1)[-1].split("\n\n", 1)[0].split()
        return {"questions": [f"How does {name} relate to the others?" for name in concepts[:3]]}


    def answer_slide_deck(self, prompt: str, body: dict) -> dict:
        pages = _pages(prompt)
        images = re.search(r"^Images: (.+)$", prompt, re.M)
        names = [] if not images or images.group(1) == "none" else images.group(1).split(", ")
        slides = [{"title": name, "bullets": [s[:120] for s in re.split(r"(?<=[.!?])\s+", text)[:3] if s],
                   "image": names[i] if i < len(names) else ""}
                  for i, (name, text) in enumerate(pages[:10])]
        while len(slides) < 3:
            slides.append({"title": "More", "bullets": ["The wiki says little more."], "image": ""})
        return {"title": "Deck", "slides": slides}

    def answer_chart_data(self, prompt: str, body: dict) -> dict:
        points = []
        for name, text in _pages(prompt):
            for label, value in re.findall(r"([A-Za-z][\w-]+)\D{0,12}?\b(\d+(?:\.\d+)?)\b", text)[:5]:
                points.append({"label": label, "value": float(value), "page": name})
        return {"found": bool(points), "chart_type": "bar", "title": "Numbers", "x_label": "item",
                "y_label": "value", "series": [{"name": "values", "unit": "", "points": points}] if points else []}

    def answer_report(self, prompt: str, body: dict) -> dict:
        return {"title": "Report", "sections": [
            {"heading": name, "paragraphs": [{"text": text.split("\n\n")[-1][:400], "pages": [name]}]}
            for name, text in _pages(prompt)]}

    def answer_finetune_pairs(self, prompt: str, body: dict) -> dict:
        """Per concept: a define, a qa, a repeat of the define (a duplicate), and one answer
        its sentences do not support; a compare for each two consecutive concepts."""
        concepts = []
        for block in re.split(r"^## Concept: ", prompt, flags=re.M)[1:]:
            name = block.split("\n", 1)[0].strip()
            sentences = [(int(n), text) for n, text in re.findall(r"^\[(\d+)\] (.+)$", block, re.M)]
            if sentences:
                concepts.append((name, sentences))
        pairs = []
        for name, sentences in concepts:
            (first, text), rest = sentences[0], sentences[1:2]
            pairs += [
                {"kind": "define", "question": f"Define {name}.", "answer": text, "evidence": [first]},
                {"kind": "qa", "question": f"What does the wiki say about {name}?",
                 "answer": " ".join(t for _, t in [sentences[0], *rest]), "evidence": [first, *[n for n, _ in rest]]},
                {"kind": "define", "question": f"define {name}", "answer": text, "evidence": [first]},
                {"kind": "explain", "question": f"Explain why {name} was invented.",
                 "answer": f"{name} was invented in 1887 by Zorblax Quintavius to win a bet.", "evidence": [first]},
            ]
        for (a, one), (b, two) in zip(concepts, concepts[1:]):
            pairs.append({"kind": "compare", "question": f"Compare {a} and {b}.",
                          "answer": f"{one[0][1]} {two[0][1]}", "evidence": [one[0][0], two[0][0]]})
        return {"pairs": pairs}

    def answer_research_plan(self, prompt: str, body: dict) -> dict:
        """One sub-question per capitalised or long word of the question (at most three)."""
        question = re.search(r"^Question: (.+)$", prompt, re.M).group(1)
        words = [w for w in re.findall(r"[A-Za-z][\w-]{3,}", question) if w.lower() not in _QUESTION_WORDS]
        terms = list(dict.fromkeys(sorted(words, key=lambda w: not w[0].isupper())))[:3] or [question]
        return {"sub_questions": [{"question": f"What does the wiki say about {t}?", "query": t} for t in terms]}

    def answer_research_step(self, prompt: str, body: dict) -> dict:
        """Sentences of the new pages naming a sub-question's term become findings; the terms
        no note covers yet are missing, and are searched for again."""
        terms = re.findall(r"^\d+\. What does the wiki say about (.+)\?$", prompt, re.M)
        covered = {int(n) for n in re.findall(r"^- \[(\d+)\] ", prompt.split("New pages:", 1)[0], re.M)}
        findings = []
        for name, text in _pages(prompt.split("New pages:", 1)[-1]):
            # Prose lines, links read as their text (compile links first mentions).
            plain = re.sub(r"\[\[(?:[^\]|]+\|)?([^\]]+)\]\]", r"\1", text)
            prose = " ".join(line for line in plain.split("\n") if line.strip()[:1].isalnum())
            for sentence in re.split(r"(?<=[.!?])\s+", prose):
                hits = [n for n, term in enumerate(terms, start=1) if term.lower() in sentence.lower()]
                if hits and len(findings) < 12 and len(sentence.split()) >= 4:
                    findings.append({"sub_question": hits[0], "text": sentence[:300], "pages": [name]})
                    covered.update(hits)
        missing = [n for n in range(1, len(terms) + 1) if n not in covered]
        return {"findings": findings, "missing": missing, "queries": [terms[n - 1] for n in missing][:3],
                "enough": not missing, "fetch": ["https://example.org/more"] if missing else []}

    def answer_research_report(self, prompt: str, body: dict) -> dict:
        notes = re.findall(r"^- \[(\d+)\] (.+) \((.+)\)$", prompt, re.M)
        sections = {}
        for number, text, pages in notes:
            sections.setdefault(number, []).append({"text": text, "pages": pages.split(", ")})
        return {"title": "Research report", "sections": [
            {"heading": f"Part {n}", "paragraphs": paragraphs[:6]} for n, paragraphs in sections.items()][:8]
            or [{"heading": "Nothing found", "paragraphs": [{"text": "The notes are empty.", "pages": []}]}]}


_QUESTION_WORDS = {"what", "does", "how", "which", "why", "when", "where", "with", "from", "that", "this",
                   "differ", "between", "their", "them", "they", "have", "about", "into", "used"}


def _pages(prompt: str) -> list[tuple[str, str]]:
    blocks = re.split(r"^=== (.+?) ===$", prompt, flags=re.M)
    return [(blocks[i], blocks[i + 1].strip()) for i in range(1, len(blocks) - 1, 2)]


def _sentence_with(line: str, name: str) -> str:
    for sentence in re.split(r"(?<=[.!?])\s+", line):
        if name in sentence:
            return sentence.strip()[:300]
    return line.strip()[:300]


def fill(schema: dict, prompt: str):
    """Any schema-valid value, for schemas the scripted model has no special answer for."""
    kind = schema.get("type")
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "object":
        return {key: fill(sub, prompt) for key, sub in schema.get("properties", {}).items()}
    if kind == "array":
        return [fill(schema["items"], prompt) for _ in range(max(schema.get("minItems", 1), 1))]
    if kind == "integer":
        return 1
    if kind == "number":
        return 1.0
    if kind == "boolean":
        return True
    return "answer"


class ScriptedServer:
    """Start with `with ScriptedServer() as server:`; point kbc at `server.base_url`.

    `server.script` is a list of canned replies used before the model: each is a dict with
    `status` (HTTP code), or `content` and `finish_reason`, optionally `usage`.
    """

    def __init__(self, model: ScriptedModel | None = None, prefix_cache: bool = True):
        self.model = model or ScriptedModel()
        self.prefix_cache = prefix_cache
        self.script: list[dict] = []
        self.requests: list[dict] = []
        self.delays: dict[str, float] = {}  # schema title -> seconds to wait before answering
        self.headers: list[dict] = []  # the HTTP headers of each chat request
        self.batch = BatchEndpoints(self)
        self._seen: list[str] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length)
                if server.batch.owns(self.path):
                    return self.reply(*server.batch.post(self.path, raw, self.headers))
                with server._lock:
                    server.headers.append(dict(self.headers))
                self.reply(*server.handle(self.path, json.loads(raw)))

            def do_GET(self):
                self.reply(*server.batch.get(self.path))

            def reply(self, status, payload):
                extra = payload.pop("_headers", {}) if isinstance(payload, dict) else {}
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in extra.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_port}/v1"

    def __enter__(self):
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def handle(self, path: str, body: dict):
        if not path.endswith("/chat/completions"):
            return 404, {"error": {"message": f"no route {path}"}}
        with self._lock:
            self.requests.append(body)
            canned = self.script.pop(0) if self.script else None
        schema = ((body.get("response_format") or {}).get("json_schema") or {}).get("schema") or {}
        time.sleep(self.delays.get(schema.get("title"), 0))
        if canned and "status" in canned:
            return canned["status"], {"error": {"message": canned.get("message", "scripted failure")},
                                      "_headers": canned.get("headers", {})}
        prompt_text = "".join(text_of(m) for m in body["messages"])
        content = canned["content"] if canned else self.model.answer(body)
        finish = canned.get("finish_reason", "stop") if canned else "stop"
        prompt_tokens = count_tokens(prompt_text)
        cached = self._cached_tokens(prompt_text)
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": count_tokens(content),
                 "total_tokens": prompt_tokens + count_tokens(content),
                 "prompt_tokens_details": {"cached_tokens": cached}}
        if canned and "usage" in canned:
            usage.update(canned["usage"])
        return 200, {
            "id": f"chatcmpl-{len(self.requests)}", "object": "chat.completion", "created": 0,
            "model": body.get("model", "scripted"),
            "choices": [{"index": 0, "finish_reason": finish,
                         "message": {"role": "assistant", "content": content}}],
            "usage": usage,
        }

    def _cached_tokens(self, prompt_text: str) -> int:
        """Longest prefix shared with an earlier prompt, in whole 16-token blocks (as vLLM)."""
        if not self.prefix_cache:
            return 0
        with self._lock:
            best = max((_common_prefix(old, prompt_text) for old in self._seen), default=0)
            self._seen = self._seen[-63:] + [prompt_text]
        tokens = min(best // 4, count_tokens(prompt_text) - 1)
        return max(tokens // BLOCK * BLOCK, 0)


def _common_prefix(a: str, b: str) -> int:
    """Length of the common prefix, by binary search over slice comparisons (fast in C)."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        mid = (low + high + 1) // 2
        if a[:mid] == b[:mid]:
            low = mid
        else:
            high = mid - 1
    return low
