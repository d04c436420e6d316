"""CTranslate2 behind the `Generator` interface: greedy generation on a CPU.

Why: CTranslate2 (a C++ inference engine with a CPU wheel, the optional `ct2` extra) runs a
small model's decode step without PyTorch's per-op overhead. On the project's AMD 2-core
machine (`glore bench ct2`, README "Benchmarks") it decoded the default student greedily
8.7x / 2.9x / 1.6x as many tokens/s as the embedded generator at batches of 1 / 8 / 64
prompts with the same text, and a `glore` solve ran 4.2-4.6x faster one question at a time
(`docs/results/probes/ct2_solve.py`). It loses where the embedded scheduler's continuous
batching pays: K sampled rollouts of many prefixes, whose rows end at very different
lengths (0.82-0.87x), and it has no per-row seeds. Hence `GreedyOnCt2`: greedy calls go to
CTranslate2, every other call to the embedded generator, so a sampled call keeps the
embedded seeds' promise and the training stages keep their rollouts' speed. On an Intel
2-core machine (2026-12-08) it won only small calls: 1.43x at batch 1, 0.76x at 64.

Each model folder is converted once (float32, seconds for the default) into a cache folder
named by the sha256 of its config and weights files: `$GLORE_CT2_CACHE`, else
`~/.cache/glore/ct2`. The batch runs on the process's compute lane, as every embedded
model's work does (`glore.backends.embedded.lane`), with CTranslate2's own threads: as
many as torch's, or one, whichever decodes faster when a process's first model loads
(`fastest`, `CHOSEN_THREADS`). On a
2-core KVM machine (Intel, 2026-12-08) two threads decoded 7x slower than one at batch 1
(130 against 950 tokens/s) and 1.15x slower at 64, whatever the OpenMP wait policy, where
on the AMD machine before it two threads were the fast choice.
Concurrent calls with the same parameters merge into one batch while the lane is busy
(`glore.backends.embedded.batcher.MicroBatcher`, no wait for a lone call). What it does not
do: take a caller's rows out mid-batch when the caller goes away (the batch finishes and its
result is dropped), or join a batch already running.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

from glore.backends.base import Completion, Generator, SamplingParams, cut_at_stop
from glore.backends.embedded.batcher import MicroBatcher
from glore.backends.embedded.lane import LANE
from glore.errors import ConfigError

logger = logging.getLogger(__name__)

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".json")
"""Files of a model folder whose bytes name its conversion (weights, config, tokenizer)."""


def require_ctranslate2() -> Any:
    """The `ctranslate2` module, or an error that says how to install it."""
    try:
        import ctranslate2
    except ImportError as exc:
        raise ConfigError(
            "CTranslate2 is not installed: pip install -e '.[ct2]' (or greedy_engine 'torch')"
        ) from exc
    return ctranslate2


def cache_root() -> Path:
    return Path(os.environ.get("GLORE_CT2_CACHE") or Path.home() / ".cache" / "glore" / "ct2")


def weights_hash(folder: Path) -> str:
    """sha256 over the names and bytes of the folder's weights, config and tokenizer files."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.iterdir() if p.suffix in WEIGHT_SUFFIXES):
        digest.update(path.name.encode())
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def converted(
    folder: str | Path, cache: Path | None = None, *, quantization: str = "float32"
) -> Path:
    """The CTranslate2 conversion of the Hugging Face model at `folder` (float32, or
    another CTranslate2 quantization such as int8): made once, then reused while its files'
    hash is the same (a retrained model gets a new one). Written beside its final place and
    renamed, so concurrent loads never see half of it."""
    ctranslate2, source = require_ctranslate2(), Path(folder)
    if not (source / "config.json").is_file():
        raise ConfigError(f"no Hugging Face model at {source} (config.json missing)")
    root = cache or cache_root()
    suffix = "" if quantization == "float32" else f"-{quantization}"
    target = root / f"{source.name}-{weights_hash(source)[:16]}{suffix}"
    if (target / "model.bin").is_file():
        return target
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".converting-", dir=root))
    try:
        converter = ctranslate2.converters.TransformersConverter(str(source))
        converter.convert(str(work / "model"), quantization=quantization, force=True)
        try:
            (work / "model").rename(target)
        except OSError:  # another process finished it first
            if not (target / "model.bin").is_file():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


PROBE_TOKENS = 32
"""Tokens each thread count decodes, greedily at batch 1, when a model loads (`fastest`)."""


def probe_tokens(tokenizer: Any) -> list[str]:
    """A short prompt's tokens for the thread probe."""
    return list(tokenizer.convert_ids_to_tokens(tokenizer("Question: 2 + 3")["input_ids"]))


def fastest(load: Any, counts: Sequence[int], prompt: list[str]) -> tuple[Any, int]:
    """The model loaded with whichever of `counts` (intra-op threads) decodes `prompt`'s
    continuation of `PROBE_TOKENS` greedy tokens fastest (the best of three calls, the
    first of which warms it), and that count. One count is loaded and returned untimed.
    Counts are tried in the order given: ascending, so that no idle many-thread model
    shares the cores while a smaller count is timed."""
    if len(counts) == 1:
        return load(counts[0]), counts[0]
    best: tuple[float, Any, int] | None = None
    for n in counts:
        model = load(n)
        seconds = min(_decode_seconds(model, prompt) for _ in range(3))
        if best is None or seconds < best[0]:
            best = (seconds, model, n)
    assert best is not None  # more than one count
    logger.info("ct2: %d intra-op thread(s), the faster of %s", best[2], list(counts))
    return best[1], best[2]


CHOSEN_THREADS: dict[tuple[str, tuple[int, ...]], int] = {}
"""The count `fastest` chose, per (quantization, counts tried), for this process: a
property of the machine and the library, measured on the first model loaded (about 2 s on
the default store) and reused for the rest, so start-up pays it once, not per model."""


def _decode_seconds(model: Any, prompt: list[str]) -> float:
    started = time.perf_counter()
    model.generate_batch(
        [prompt], max_length=PROBE_TOKENS, min_length=PROBE_TOKENS, sampling_topk=1,
        include_prompt_in_result=False,
    )  # fmt: skip
    return time.perf_counter() - started


class Ct2Generator:
    """A `Generator` over a CTranslate2 model: each prompt continued, greedy (one hypothesis,
    repeated `n` times) or sampled (`n` hypotheses; CTranslate2's one global seed is set
    per call, so a seeded call is reproducible alone but not keyed per row)."""

    def __init__(self, model: Any, tokenizer: Any, *, max_batch_size: int = 64) -> None:
        self.ct, self.tokenizer, self.max_batch_size = model, tokenizer, max_batch_size
        self.threads: int | None = None
        """CTranslate2's intra-op threads, where `from_pretrained` chose them."""
        # Concurrent calls with the same parameters merge into one CTranslate2 batch while
        # the lane is busy; a lone call waits for no one (max_wait_s 0).
        self.batcher: MicroBatcher[str, list[Completion]] = MicroBatcher(
            self._batch, max_batch=max_batch_size, max_wait_s=0.0
        )

    @classmethod
    def from_pretrained(
        cls,
        path: str | Path,
        *,
        threads: int | None = None,
        max_batch_size: int = 64,
        cache: Path | None = None,
        quantization: str = "float32",
    ) -> Ct2Generator:
        """`quantization` other than float32 (int8) is for measuring: the served engine is
        float32, whose greedy text is the embedded generator's."""
        import torch
        from transformers import AutoTokenizer

        # On the lane: the converter loads the model in torch, which on another thread
        # would give the process a second OpenMP team (glore.backends.embedded.lane).
        folder = LANE.call(lambda: converted(path, cache, quantization=quantization))
        tokenizer = AutoTokenizer.from_pretrained(path)

        def load(n: int) -> Any:
            ct = require_ctranslate2()
            return ct.Generator(
                str(folder), device="cpu", compute_type=quantization, intra_threads=n
            )

        tried = tuple(sorted({1, torch.get_num_threads()}))
        known = CHOSEN_THREADS.get((quantization, tried))
        counts = (threads,) if threads else (known,) if known else tried
        model, chosen = LANE.call(lambda: fastest(load, counts, probe_tokens(tokenizer)))
        if not threads:
            CHOSEN_THREADS[(quantization, tried)] = chosen
        generator = cls(model, tokenizer, max_batch_size=max_batch_size)
        generator.threads = chosen
        return generator

    async def generate(
        self, prompts: Sequence[str], params: SamplingParams
    ) -> list[list[Completion]]:
        if not prompts:
            return []
        return await self.batcher.submit(params, list(prompts))

    def generate_sync(
        self, prompts: Sequence[str], params: SamplingParams
    ) -> list[list[Completion]]:
        return LANE.call(lambda: self._generate(list(prompts), params))

    def _batch(self, key: Hashable, prompts: list[str]) -> list[list[Completion]]:
        assert isinstance(key, SamplingParams)  # the batcher's key is the call's parameters
        return self._generate(prompts, key)

    def _generate(self, prompts: list[str], params: SamplingParams) -> list[list[Completion]]:
        if not prompts:
            return []
        greedy = params.greedy
        if params.seed is not None and not greedy:
            require_ctranslate2().set_random_seed(params.seed)
        pieces = [
            self.tokenizer.convert_ids_to_tokens(self.tokenizer(p)["input_ids"]) for p in prompts
        ]
        results = self.ct.generate_batch(
            pieces,
            max_length=params.max_tokens,
            num_hypotheses=1 if greedy else params.n,
            sampling_topk=1 if greedy else 0,
            sampling_temperature=params.temperature or 1.0,
            sampling_topp=params.top_p,
            include_prompt_in_result=False,
            max_batch_size=self.max_batch_size,
        )
        rows = [[self._completion(ids, params) for ids in r.sequences_ids] for r in results]
        return [row * params.n if greedy else row for row in rows]

    def _completion(self, ids: list[int], params: SamplingParams) -> Completion:
        # CTranslate2 leaves the end token out; a row that did not reach max_tokens ended.
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        text, stopped = cut_at_stop(text, params.stop)
        ended = stopped or len(ids) < params.max_tokens
        return Completion(text, len(ids), "stop" if ended else "length")


class GreedyOnCt2:
    """Greedy calls to `ct2`, the rest to `fallback` (the embedded generator of the same
    model, whose scheduler keeps per-row seeds and continuous batching). Everything else a
    caller reads (`tokenizer`, `model`, `scheduler`, `generate_sync` of sampled work) is
    the fallback's."""

    def __init__(self, ct2: Ct2Generator, fallback: Generator) -> None:
        self.ct2, self.fallback = ct2, fallback

    def _pick(self, params: SamplingParams) -> Any:
        return self.ct2 if params.greedy else self.fallback

    async def generate(
        self, prompts: Sequence[str], params: SamplingParams
    ) -> list[list[Completion]]:
        result: list[list[Completion]] = await self._pick(params).generate(prompts, params)
        return result

    def generate_sync(
        self, prompts: Sequence[str], params: SamplingParams
    ) -> list[list[Completion]]:
        result: list[list[Completion]] = self._pick(params).generate_sync(prompts, params)
        return result

    def __getattr__(self, name: str) -> Any:
        if name == "fallback":  # not set yet (a copy being made): no recursion
            raise AttributeError(name)
        return getattr(self.fallback, name)
