"""The pipeline's stage names, in order (kept apart so `glore --help` loads no torch)."""

from collections.abc import Collection

STAGES: tuple[str, ...] = (
    "tokenizer",
    "student",
    "verifier",
    "sample",
    "sorm-label",
    "orm",
    "sorm",
    "refine-data",
    "global",
    "local",
    "export",
)
TRAINING_STAGES = frozenset({"student", "verifier", "orm", "sorm", "global", "local"})
"""Stages every process runs under `accelerate launch`; the rest run on the main one."""

INPUTS: dict[str, tuple[str, ...]] = {
    "tokenizer": (),
    "student": ("tokenizer",),
    "verifier": ("tokenizer",),
    "sample": ("student",),
    "sorm-label": ("sample",),
    "orm": ("sample", "verifier"),
    "sorm": ("sorm-label", "verifier"),
    "refine-data": ("sample", "sorm-label"),
    "global": ("refine-data", "verifier"),  # the verifier base, with `init: verifier`
    "local": ("refine-data", "verifier"),
    "export": ("student", "orm", "sorm", "global", "local"),
}
"""The stages whose outputs a stage reads: they must be complete before it runs."""


def missing_inputs(names: Collection[str], complete: Collection[str]) -> list[str]:
    """The stages, in pipeline order, that must run before `names` can: the incomplete
    inputs of every stage of `names` that will run. A complete stage's inputs are not
    asked for, so a model seeded from a store (`glore train seed`) stands in for the data
    it was trained on: a run seeded with every model can export without its rollouts."""
    seen: set[str] = set()
    todo = [i for n in names if n not in complete for i in INPUTS[n]]
    while todo:
        stage = todo.pop()
        if stage in seen or stage in complete:
            continue
        seen.add(stage)
        todo += INPUTS[stage]
    return [s for s in STAGES if s in seen and s not in names]
