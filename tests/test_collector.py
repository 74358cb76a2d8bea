"""A compile runs the cyclic collector in large batches (kbc/compile/collector.py): no
full pass over the run's long-lived objects within it, and the thresholds given back after;
what it read in bulk is frozen while it runs, and unfrozen after."""
import gc

from kbc.compile import compile_vault
from kbc.compile.collector import RUN_THRESHOLDS
from tests.conftest import make_llm, open_vault, templates
from tests.scripted import ScriptedModel, ScriptedServer


class ThresholdsSeen(ScriptedModel):
    """Answers as the scripted model does, noting the collector's thresholds when asked (the
    server answers in the compiling process, so mid-run)."""

    def __init__(self):
        super().__init__()
        self.seen = set()
        self.frozen = []

    def answer(self, body: dict) -> str:
        self.seen.add(gc.get_threshold())
        self.frozen.append(gc.get_freeze_count())
        return super().answer(body)


def test_a_compile_makes_no_full_collection_and_restores_the_thresholds(sample_vault):
    model = ThresholdsSeen()
    passes = []  # generations collected while the compile ran

    def note(phase, info):
        if phase == "start":
            passes.append(info["generation"])

    before = gc.get_threshold()
    with ScriptedServer(model) as server:
        vault = open_vault(sample_vault, server)
        gc.callbacks.append(note)
        try:
            report = compile_vault(vault, make_llm(vault, server), templates(vault))
        finally:
            gc.callbacks.remove(note)
    assert report.written and not report.errors
    assert model.seen == {RUN_THRESHOLDS} and 2 not in passes
    assert gc.get_threshold() == before
    # What the run's table reads made was kept out of its passes, and is collected again after it.
    assert max(model.frozen) > 0 and gc.get_freeze_count() == 0
