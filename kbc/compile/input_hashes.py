"""Each concept's article input hash (articles.input_hash) kept between runs under a cheaper
key of the same inputs (the repr of its name, aliases and its material's digest, with the
articles code): the stable JSON of every concept's evidence was a third of a second a run at
10,000 sources, for concepts whose evidence had not changed; the digest spares parsing the
evidence at all. .kbc/input_hashes.json."""
from __future__ import annotations

import hashlib
import json

from kbc.compile import articles
from kbc.compile.articles import input_hash
from kbc.compile.material import Material
from kbc.compile.rows import Concept
from kbc.llm import prompts
from kbc.vault import files
from kbc.vault.files import atomic_write, code_digest

FILE = "input_hashes.json"
CODE = code_digest(articles, prompts, files)  # input_hash, stable_json, sha256_text


class InputHashes:
    def __init__(self, vault):
        self.path = vault.state_dir / FILE
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        self.seen: dict = data if isinstance(data, dict) else {}
        self.now: dict[str, list[str]] = {}

    def of(self, concept: Concept, material: Material) -> str:
        """input_hash(concept, material[concept.key]), the evidence read only if its hash is not kept."""
        key = hashlib.sha256(repr((CODE, concept.name, concept.aliases, material.digest(concept.key)))
                             .encode()).hexdigest()[:32]
        hit = self.seen.get(concept.key)
        digest = hit[1] if isinstance(hit, list) and len(hit) == 2 and hit[0] == key \
            else input_hash(concept, material[concept.key])
        self.now[concept.key] = [key, digest]
        return digest

    def save(self) -> None:
        if self.now != self.seen:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(self.path, json.dumps(self.now))
