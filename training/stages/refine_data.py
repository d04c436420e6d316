"""Stage `refine-data`: refinement pairs mined from the samples and the rollouts.

Global: (question, an incorrect sample) -> a correct sample of the same question.
Local: where P_i is positive and P_{i+1} is not, an incorrect draft containing P_{i+1},
`[BAD]` before step i+1 -> a correct rollout from P_i (see `training.refine_pairs`).
"""

from __future__ import annotations

import random
import time
from typing import Any

from glore.labels.records import PrefixRollouts, RefinePair, to_json
from glore.labels.rules import index_prefixes
from training.context import Context
from training.refine_pairs import global_pairs, local_pairs, pair_summary
from training.rundir import read_jsonl, write_jsonl
from training.stages.sample import load_samples
from training.stages.sorm_label import chosen_samples

NAME = "refine-data"


def load_pairs(ctx: Context, kind: str) -> list[RefinePair]:
    return [RefinePair(**row) for row in read_jsonl(ctx.run.stage(NAME) / f"{kind}.jsonl")]


def run(ctx: Context) -> dict[str, Any]:
    started = time.time()
    cap, rng = ctx.recipe.refine_data.cap_per_question, random.Random(ctx.recipe.seed)
    folder = ctx.run.stage("sorm-label") / "rollouts"
    rows = [PrefixRollouts(**r) for p in sorted(folder.glob("*.jsonl")) for r in read_jsonl(p)]
    glob = global_pairs(load_samples(ctx), cap, rng)
    local = local_pairs(chosen_samples(ctx), index_prefixes(rows), cap, rng)
    out = ctx.run.stage(NAME)
    write_jsonl(out / "global.jsonl", (to_json(p) for p in glob))
    write_jsonl(out / "local.jsonl", (to_json(p) for p in local))
    summary = {"global": pair_summary(glob), "local": pair_summary(local)}
    return ctx.run.finish(NAME, summary, started)
