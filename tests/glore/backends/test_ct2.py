"""CTranslate2 as the greedy engine (`glore.backends.ct2`): the conversion cached by the
weights' hash, greedy text the same as the embedded generator's, stop strings and `n`
applied as every backend does, sampled calls left to the embedded generator, and a whole
`glore` solve giving the same answers. Skips where the `ct2` extra is not installed."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from glore.backends.base import SamplingParams
from glore.errors import ConfigError

STORE = Path(__file__).resolve().parents[3] / "model_store" / "default"


def test_without_the_extra_the_error_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from glore.backends.ct2 import converted

    monkeypatch.setitem(sys.modules, "ctranslate2", None)  # import fails as if absent
    with pytest.raises(ConfigError, match=r"pip install -e '\.\[ct2\]'"):
        converted(STORE / "student")


def test_an_unknown_greedy_engine_is_refused() -> None:
    from glore.engine.loading import load_models

    with pytest.raises(ConfigError, match="greedy_engine must be one of auto, torch, ct2"):
        load_models(STORE, greedy_engine="onnx")  # type: ignore[arg-type]


def test_auto_without_the_extra_keeps_greedy_calls_on_torch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from glore.backends.embedded import EmbeddedGenerator
    from glore.engine.loading import load_models

    monkeypatch.setitem(sys.modules, "ctranslate2", None)  # as if not installed
    models = load_models(STORE)  # auto, the default
    assert isinstance(models.student, EmbeddedGenerator)
    assert isinstance(models.global_refiner, EmbeddedGenerator)


ctranslate2 = pytest.importorskip("ctranslate2", reason="CTranslate2 is the optional `ct2` extra")


def test_auto_falls_back_to_torch_where_it_cannot_convert(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from glore.backends.ct2 import GreedyOnCt2
    from glore.backends.embedded import EmbeddedGenerator
    from glore.engine.loading import load_models

    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("GLORE_CT2_CACHE", str(blocked / "ct2"))  # cannot be made
    assert isinstance(load_models(STORE).student, EmbeddedGenerator)
    with pytest.raises(ConfigError, match="greedy_engine 'ct2' could not load"):
        load_models(STORE, greedy_engine="ct2")
    monkeypatch.setenv("GLORE_CT2_CACHE", str(tmp_path / "ct2"))
    assert isinstance(load_models(STORE).student, GreedyOnCt2)  # auto, where it can


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ct2-cache")


def test_a_model_is_converted_once_and_again_when_its_weights_change(
    cache: Path, tmp_path: Path
) -> None:
    from glore.backends.ct2 import converted

    first = converted(STORE / "student", cache)
    stamp = (first / "model.bin").stat().st_mtime_ns
    assert converted(STORE / "student", cache) == first  # reused, not rewritten
    assert (first / "model.bin").stat().st_mtime_ns == stamp
    copy = tmp_path / "student"
    shutil.copytree(STORE / "student", copy)
    assert converted(copy, cache) == first  # the same files: the same conversion
    config = copy / "config.json"
    config.write_text(config.read_text().replace('"rms_norm_eps": 1e-06', '"rms_norm_eps": 1e-05'))
    assert converted(copy, cache) != first
    assert not [p for p in cache.iterdir() if p.name.startswith(".converting-")]


@pytest.fixture(scope="module")
def generators(cache: Path):  # type: ignore[no-untyped-def]
    from glore.backends.ct2 import Ct2Generator, GreedyOnCt2
    from glore.backends.embedded import EmbeddedGenerator

    embedded = EmbeddedGenerator.from_pretrained(STORE / "student")
    ct2 = Ct2Generator.from_pretrained(STORE / "student", cache=cache)
    return embedded, ct2, GreedyOnCt2(ct2, embedded)


def _prompts(n: int) -> list[str]:
    from glore.formats import student_prompt
    from glore.tasks.arith import ArithTask

    return [student_prompt(p.question).text for p in ArithTask().load("validation", n)]


def test_greedy_text_is_the_embedded_generators(generators) -> None:  # type: ignore[no-untyped-def]
    embedded, ct2, _ = generators
    prompts = _prompts(16)
    params = SamplingParams(n=2, max_tokens=96)
    ours, theirs = embedded.generate_sync(prompts, params), ct2.generate_sync(prompts, params)
    assert [len(row) for row in theirs] == [2] * 16
    same = sum(a[0] == b[0] for a, b in zip(ours, theirs, strict=True))
    assert same >= 15  # the same model decoded greedily (a float tie may flip one)
    assert all(row[0] == row[1] for row in theirs)  # greedy: n copies of one completion
    assert ct2.generate_sync([], params) == []


def test_the_thread_count_is_the_faster_one_measured_at_load(
    generators,  # type: ignore[no-untyped-def]
    cache: Path,
) -> None:
    import time

    import torch

    from glore.backends.ct2 import CHOSEN_THREADS, PROBE_TOKENS, Ct2Generator, fastest

    _, ct2, _ = generators
    assert ct2.threads in {1, torch.get_num_threads()}
    tried = tuple(sorted({1, torch.get_num_threads()}))
    assert CHOSEN_THREADS[("float32", tried)] == ct2.threads  # measured once a process
    again = Ct2Generator.from_pretrained(STORE / "global", cache=cache)
    assert again.threads == ct2.threads
    assert Ct2Generator.from_pretrained(STORE / "student", cache=cache, threads=1).threads == 1

    class Timed:  # a model whose decode takes what its thread count says
        def __init__(self, n: int) -> None:
            self.n, self.calls = n, []

        def generate_batch(self, prompts: list[list[str]], **options: object) -> None:
            self.calls.append(options)
            time.sleep({1: 0.03, 2: 0.002, 4: 0.01}[self.n])

    model, n = fastest(Timed, (1, 2, 4), ["a"])
    assert (n, model.n) == (2, 2)
    assert model.calls[0]["min_length"] == model.calls[0]["max_length"] == PROBE_TOKENS
    lone, one = fastest(Timed, (4,), ["a"])
    assert one == 4 and lone.calls == []  # one count: loaded, not timed


def test_concurrent_greedy_calls_merge_into_one_batch_and_keep_their_own_results(
    generators,  # type: ignore[no-untyped-def]
) -> None:
    import asyncio
    import time

    from glore.backends.embedded.lane import LANE

    _, ct2, _ = generators
    prompts = _prompts(6)
    params = SamplingParams(max_tokens=48)
    alone = ct2.generate_sync(prompts, params)

    async def together() -> list[list[list[object]]]:
        # The lane busy with a job first, so the six calls queue up behind it.
        blocker = LANE.submit(lambda: time.sleep(0.2))
        out = await asyncio.gather(*(ct2.generate([p], params) for p in prompts))
        blocker.result()
        return list(out)

    before = ct2.batcher.batches
    merged = asyncio.run(together())
    assert [row for call in merged for row in call] == alone
    assert ct2.batcher.batches - before == 1


def test_stop_strings_and_lengths_end_completions_as_in_the_embedded_generator(
    generators,  # type: ignore[no-untyped-def]
) -> None:
    embedded, ct2, _ = generators
    prompts = _prompts(4)
    short = SamplingParams(max_tokens=5)
    assert all(row[0].finish_reason == "length" for row in ct2.generate_sync(prompts, short))
    stop = SamplingParams(max_tokens=96, stop=("\n",))
    ours, theirs = embedded.generate_sync(prompts, stop), ct2.generate_sync(prompts, stop)
    for a, b in zip(ours, theirs, strict=True):
        assert "\n" not in b[0].text and b[0].finish_reason == "stop"
        assert a[0].text == b[0].text


def test_greedy_calls_go_to_ct2_and_sampled_ones_stay_embedded(
    generators,  # type: ignore[no-untyped-def]
) -> None:
    embedded, _, both = generators
    prompts = _prompts(3)
    sampled = SamplingParams(n=2, temperature=1.0, max_tokens=48, seed=5)
    steps = embedded.scheduler.steps
    # The embedded seeds' promise holds: the same samples as the embedded generator's.
    assert both.generate_sync(prompts, sampled) == embedded.generate_sync(prompts, sampled)
    stepped = embedded.scheduler.steps
    assert stepped > steps
    both.generate_sync(prompts, SamplingParams(max_tokens=48))
    assert embedded.scheduler.steps == stepped  # greedy: the scheduler did not step
    assert both.tokenizer is embedded.tokenizer  # the rest is the embedded generator's


def test_a_glore_solve_on_ct2_gives_the_same_answers(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from glore import GLoRe
    from glore.tasks.arith import ArithTask

    monkeypatch.setenv("GLORE_CT2_CACHE", str(cache))
    questions = [p.question for p in ArithTask().load("validation", 6)]
    torch_engine = GLoRe.from_pretrained(STORE, greedy_engine="torch")
    ct2_engine = GLoRe.from_pretrained(STORE, greedy_engine="ct2")
    ours = torch_engine.solve_batch(questions, "glore", mode="always")
    theirs = ct2_engine.solve_batch(questions, "glore", mode="always")
    assert [r.answer for r in theirs] == [r.answer for r in ours]
    assert [r.winner for r in theirs] == [r.winner for r in ours]
