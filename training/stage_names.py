"""The pipeline's stage names, in order (kept apart so `glore --help` loads no torch)."""

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


def needs(name: str) -> set[str]:
    """Every stage `name` depends on, directly or through another."""
    out: set[str] = set()
    todo = list(INPUTS[name])
    while todo:
        stage = todo.pop()
        if stage not in out:
            out.add(stage)
            todo += INPUTS[stage]
    return out
