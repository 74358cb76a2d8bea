"""Every attack of the issue-13 battery (tests/attacks/) survives: nothing lost, nothing leaked,
one line instead of a traceback, and a rerun pays nothing already paid."""
import pytest

from tests.attacks import ATTACKS, COMPILE_OWNED, run_attack


@pytest.mark.parametrize("name", sorted(set(ATTACKS) - COMPILE_OWNED))
def test_attack_is_survived(name, tmp_path):
    outcome = run_attack(name, tmp_path)
    assert outcome.survived, outcome.detail
    assert not outcome.lost and not outcome.traceback
