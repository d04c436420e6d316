"""The pipeline's stage names, in order (kept apart so `glore --help` loads no torch)."""

STAGES: tuple[str, ...] = (
    "tokenizer",
    "student",
    "sample",
    "sorm-label",
    "orm",
    "sorm",
    "refine-data",
    "global",
    "local",
    "export",
)
TRAINING_STAGES = frozenset({"student", "orm", "sorm", "global", "local"})
"""Stages every process runs under `accelerate launch`; the rest run on the main one."""
