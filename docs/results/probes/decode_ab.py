"""Decode tokens/s of the embedded student, for comparing two commits on one machine. A
research record (issue 12), not part of the package. Run it alternately in two trees:

    git worktree add ../before REV
    for i in 1 2 3; do
        (cd ../before && PYTHONPATH=. python $OLDPWD/docs/results/probes/decode_ab.py before)
        python docs/results/probes/decode_ab.py after
    done

Through the served generator (its scheduler, the lean step, the compute lane), on 64 arith
validation prompts: greedy, 96 new tokens each, all 64 at once; sampled, 8 solutions of
each of 16 prompts (temperature 1, up to 256 tokens: the rollouts' shape); greedy, one
prompt alone. Tokens/s, the best of three runs each; the machine moves run to run, so
compare the best of several alternations.
"""

from __future__ import annotations

import sys
import time

from glore.backends.base import SamplingParams
from glore.backends.embedded.generator import EmbeddedGenerator
from glore.formats.prompts import student_prompt
from glore.tasks.arith import ArithTask


def _rate(gen: EmbeddedGenerator, prompts: list[str], params: SamplingParams) -> float:
    best, tokens = float("inf"), 0
    for _ in range(3):
        started = time.perf_counter()
        out = gen.generate_sync(prompts, params)
        best = min(best, time.perf_counter() - started)
        tokens = sum(c.tokens for row in out for c in row)
    return tokens / best


def main(label: str, store: str = "model_store/default") -> None:
    gen = EmbeddedGenerator.from_pretrained(f"{store}/student", device="cpu")
    prompts = [student_prompt(p.question).text for p in ArithTask().load("validation", 64)]
    gen.generate_sync(prompts[:4], SamplingParams(max_tokens=8))  # one-off costs
    greedy = _rate(gen, prompts, SamplingParams(temperature=0.0, max_tokens=96))
    sampled = _rate(gen, prompts[:16], SamplingParams(n=8, temperature=1.0, seed=0))
    alone = _rate(gen, prompts[:1], SamplingParams(temperature=0.0, max_tokens=96))
    print(
        f"{label}: tokens/s greedy 64 rows {greedy:.0f}, sampled 16 x 8 {sampled:.0f}, "
        f"greedy 1 row {alone:.0f}",
        flush=True,
    )


if __name__ == "__main__":
    main(*sys.argv[1:])
