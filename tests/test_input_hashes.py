"""The article input hashes kept between runs equal articles.input_hash after evidence, names
and aliases change, and a hash stored for other inputs is never taken."""
import json

from kbc.compile.articles import input_hash
from kbc.compile.input_hashes import FILE, InputHashes
from kbc.compile.material import Material
from kbc.compile.rows import Concept, Evidence
from kbc.vault import Vault


def test_kept_input_hashes_equal_the_hash_of_the_inputs(vault_dir):
    vault = Vault(vault_dir, env={})
    concept = Concept("paxos", "Paxos", ["Synod"], "", "other", "Paxos")
    evidence = [Evidence("Note (source)", "Paxos needs a quorum.", "3"),
                Evidence("Other (source)", "Paxos", "9", "mention")]
    first = InputHashes(vault)
    assert first.of(concept, Material.of({"paxos": evidence})) == input_hash(concept, evidence)
    first.save()
    changes = [lambda: evidence.append(Evidence("Third (source)", "Multi-Paxos.", "1")),
               lambda: setattr(evidence[0], "lines", "4"), lambda: setattr(evidence[1], "kind", "claim"),
               lambda: concept.aliases.append("Basic Paxos"), lambda: setattr(concept, "name", "Paxos Algorithm")]
    for change in changes:
        change()
        hashes = InputHashes(vault)
        assert hashes.of(concept, Material.of({"paxos": evidence})) == input_hash(concept, evidence)
        hashes.save()
    # a stored entry whose key is not the inputs' is not taken, whatever digest it holds
    stored = json.loads((vault.state_dir / FILE).read_text())
    stored["paxos"][1] = "forged"
    (vault.state_dir / FILE).write_text(json.dumps(stored))
    assert InputHashes(vault).of(concept, Material.of({"paxos": evidence})) == "forged"  # same inputs: the stored digest
    evidence[0].text += " Always."
    assert InputHashes(vault).of(concept, Material.of({"paxos": evidence})) == input_hash(concept, evidence)
