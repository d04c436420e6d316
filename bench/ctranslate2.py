"""`glore bench ct2`: CTranslate2 (float32 and int8) against the project's embedded
generator on a store's student, greedy and sampled, at batches of 1, 8, 64 and 256
prompts, side by side in one run.

The measurement issue 12 asks for before choosing a compiled CPU engine. CTranslate2 is an
optional extra (`pip install -e '.[ct2]'`); the student is converted into a temporary
folder. At each batch size the same prompts (at least `MIN_PROMPTS`, in calls of that many)
go through the embedded generator as served (its scheduler, on the compute lane, at most
its own `max_batch_size` rows at once) and through CTranslate2 behind the same interface
(`glore.backends.ct2.Ct2Generator`, float32 and int8) in batches of that size, each side's
tokenizing and decoding timed with it;
each workload runs twice and the faster run counts. Rates are new tokens/s and the share of
this machine's float32 matmul peak (the decode part's FLOP count, `bench.engine`); the
report also says whether greedy text is the same as the embedded generator's. The
rollouts workload is the `sorm-label`
stage's: K samples of each step prefix through `roll_out`, CTranslate2 behind the same
`Generator` interface (`glore.backends.ct2.Ct2Generator`) with `num_hypotheses` K and each call
cut into batches of `max_batch_size` prompts, against the continuous-batching generator.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from glore.backends.base import SamplingParams
from glore.backends.ct2 import Ct2Generator, require_ctranslate2
from glore.formats import student_prompt

QUANTIZATIONS = ("float32", "int8")
SIZES = (1, 8, 64, 256)
"""Prompts per call, as issue 12 asks."""
MIN_PROMPTS = 16
"""Prompts timed at each size at least (16 calls of one at batch 1)."""


def _calls(prompts: list[str], size: int) -> list[list[str]]:
    return [prompts[i : i + size] for i in range(0, len(prompts), size)]


def _timed(
    gen: Any, prompts: list[str], size: int, params: SamplingParams
) -> tuple[float, int, list[str]]:
    """Seconds, new tokens and the first completion's text of `prompts` through `gen`'s
    `generate`, in calls of `size` one after another (tokenizing and decoding included)."""
    texts: list[str] = []
    tokens = 0
    started = time.perf_counter()
    for call in _calls(prompts, size):
        out = asyncio.run(gen.generate(call, params))
        tokens += sum(c.tokens for row in out for c in row)
        texts += [row[0].text for row in out]
    return time.perf_counter() - started, tokens, texts


def _rollouts(gen: Any, ct: Ct2Generator, prefixes: int, k: int) -> dict[str, Any]:
    """Rollouts/s of `roll_out` over the same prefixes: ours, then CTranslate2 float32 at
    64 and 256 prompts per batch (the faster of two runs each)."""
    from bench.rollouts import prefix_jobs
    from glore.labels.rollouts import roll_out

    jobs = prefix_jobs(prefixes)
    params = SamplingParams(n=k, temperature=1.0, max_tokens=160, seed=7)
    targets = {
        "ours": gen,
        **{f"ct2_float32_batch{b}": _sized(ct, b) for b in (64, 256)},
    }
    best: dict[str, float] = {}
    for _ in range(2):
        for label, target in targets.items():
            started = time.perf_counter()
            roll_out(target, jobs, params)
            seconds = time.perf_counter() - started
            best[label] = min(seconds, best.get(label, seconds))
    n = len(jobs) * k
    return {
        "prefixes": len(jobs),
        "k": k,
        **{
            label: {
                "seconds": round(s, 3),
                "rollouts_per_s": round(n / s, 1),
                "speedup": round(best["ours"] / s, 2),
            }
            for label, s in best.items()
        },
    }


def bench_ct2(
    store: str = "model_store/default",
    *,
    n: int = 256,
    sizes: Sequence[int] = SIZES,
    max_tokens: int = 256,
    threads: int = 2,
    prefixes: int = 64,
    k: int = 8,
) -> dict[str, Any]:
    """The report (see the module's docstring); batch sizes above `n` are left out."""
    import torch
    from transformers import AutoTokenizer

    from bench.engine import matmul_flops
    from glore import GLoRe
    from glore.backends.embedded.lane import LANE
    from glore.tasks.arith import ArithTask

    require_ctranslate2()
    torch.set_num_threads(threads)
    student = Path(store) / "student"
    tok = AutoTokenizer.from_pretrained(student)
    prompts = [student_prompt(p.question).text for p in ArithTask().load("validation", n)]
    gen = GLoRe.from_pretrained(store, greedy_engine="torch").models.student
    peak = LANE.call(matmul_flops)
    with tempfile.TemporaryDirectory() as tmp:
        ct = {
            # CTranslate2's own threads as served: the faster of 1 and torch's, measured.
            q: Ct2Generator.from_pretrained(student, cache=Path(tmp), quantization=q)
            for q in QUANTIZATIONS
        }
        report: dict[str, Any] = {
            "store": store,
            "threads": threads,
            "ct2_threads": {q: g.threads for q, g in ct.items()},
            "matmul_gflops": round(peak / 1e9, 1),
            "served_max_batch_size": getattr(gen, "max_batch_size", None),
            "sizes": [],
        }
        for size in [s for s in sizes if s <= len(prompts)]:
            timed = prompts[: max(size, min(MIN_PROMPTS, len(prompts)))]
            row: dict[str, Any] = {"batch": size, "prompts": len(timed)}
            for name, greedy in (("greedy", True), ("sampled", False)):
                best = _workload(gen, ct, timed, size, greedy=greedy, max_tokens=max_tokens)
                row[name] = _rates(best, gen, tok, timed, peak)
                if greedy:
                    row["greedy_same_text"] = _same(best["ours"][2], best["ct2_float32"][2])
                    row["greedy_int8_same_text"] = _same(best["ours"][2], best["ct2_int8"][2])
            report["sizes"].append(row)
        report["rollouts"] = _rollouts(gen, ct["float32"], prefixes, k)
    return report


Run = tuple[float, int, list[str]]


def _same(ours: list[str], theirs: list[str]) -> str:
    """How many of the greedy texts are the same, as `same/total`: int8 weights may change
    a greedy choice where float32 gives ours exactly, so both are counted."""
    same = sum(a.strip() == b.strip() for a, b in zip(ours, theirs, strict=True))
    return f"{same}/{len(ours)}"


def _rates(
    best: dict[str, Run], gen: Any, tok: Any, prompts: list[str], peak: float
) -> dict[str, Any]:
    """Each engine's seconds, tokens, tokens/s, speedup over ours and share of the peak
    (FLOPs per token at the mean context: the prompt and half the new tokens)."""
    from bench.engine import _flops_per_token

    prompt = sum(len(tok(p)["input_ids"]) for p in prompts) / len(prompts)
    base = best["ours"][0]
    out = {}
    for label, (seconds, tokens, _) in best.items():
        context = round(prompt + tokens / len(prompts) / 2)
        rate = tokens / seconds
        out[label] = {
            "seconds": round(seconds, 3),
            "tokens": tokens,
            "tokens_per_s": round(rate),
            "speedup": round(base / seconds, 2),
            "fraction_of_matmul_peak": round(rate * _flops_per_token(gen.model, context) / peak, 4),
        }
    return out


def _sized(ct: Ct2Generator, size: int) -> Ct2Generator:
    """The same loaded CTranslate2 model, in batches of at most `size` prompts."""
    return Ct2Generator(ct.ct, ct.tokenizer, max_batch_size=size)


def _workload(
    gen: Any,
    ct: dict[str, Ct2Generator],
    prompts: list[str],
    size: int,
    *,
    greedy: bool,
    max_tokens: int,
) -> dict[str, Run]:
    """The faster of two runs of each engine on one workload, in calls of `size`."""
    temperature = 0.0 if greedy else 1.0
    params = SamplingParams(n=1, temperature=temperature, max_tokens=max_tokens, seed=0)
    runs: dict[str, Callable[[], Run]] = {"ours": partial(_timed, gen, prompts, size, params)}
    for q in QUANTIZATIONS:
        runs[f"ct2_{q}"] = partial(_timed, _sized(ct[q], size), prompts, size, params)
    best: dict[str, Run] = {}
    for _ in range(2):
        for label, run in runs.items():
            got = run()
            if label not in best or got[0] < best[label][0]:
                best[label] = got
    return best


def format_ct2(report: dict[str, Any]) -> str:
    lines = [
        f"{report['threads']} torch threads, ct2 threads (measured at load) "
        f"{report.get('ct2_threads')}, float32 matmul peak {report['matmul_gflops']} GFLOP/s; "
        f"ours serves at most {report['served_max_batch_size']} rows at once:"
    ]
    for row in report["sizes"]:
        lines.append(
            f"  batch {row['batch']} ({row['prompts']} prompts; greedy text the same as ours: "
            f"ct2 float32 {row['greedy_same_text']}, int8 "
            f"{row.get('greedy_int8_same_text', 'not counted')}):"
        )
        for name in ("greedy", "sampled"):
            parts = [
                f"{k} {v['tokens_per_s']} tok/s ({v['speedup']}x, "
                f"{v['fraction_of_matmul_peak']:.1%} of peak)"
                for k, v in row[name].items()
            ]
            lines.append(f"    {name:>7}: " + "; ".join(parts))
    r = report["rollouts"]
    parts = [
        f"{k} {v['seconds']} s ({v['rollouts_per_s']}/s, {v['speedup']}x)"
        for k, v in r.items()
        if isinstance(v, dict)
    ]
    lines.append(f"  rollouts, {r['prefixes']} prefixes x K={r['k']}: " + "; ".join(parts))
    return "\n".join(lines)
