"""The remote vLLM backends against a stand-in vLLM server over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import gc
import math
import re
import socket
import time
from typing import Any

import httpx
import pytest

from glore.backends.base import Completion, SamplingParams
from glore.backends.remote import RemoteGenerator, RemoteScorer
from glore.backends.remote.generator import _assign, _split_tokens
from glore.backends.remote.vllm_contract import Choice
from glore.errors import BackendError, InvalidInputError, ModelNotFoundError
from glore.formats import scorer_prompt, step_end_tokens

FAST: dict[str, Any] = {"timeout_s": 2.0, "max_retries": 2, "backoff_s": 0.01}


def _gen(srv: Any, **kwargs: Any) -> RemoteGenerator:
    options = {**FAST, **kwargs}
    model = options.pop("model", "student")
    return RemoteGenerator(srv.base_url, model, **options)


def _expected(prompt: str, seed: int | None, j: int) -> str:
    return f"<{prompt}|{seed}|{j}>"


async def _generate(gen: RemoteGenerator, prompts: list[str], params: SamplingParams) -> Any:
    async with gen:
        return await gen.generate(prompts, params)


def _sampled(seed: int | None = None, n: int = 2) -> SamplingParams:
    return SamplingParams(n=n, temperature=0.7, seed=seed)


def _completions(srv: Any) -> list[dict[str, Any]]:
    return [body for path, body in srv.state.requests if path == "/v1/completions"]


# --- generation ---------------------------------------------------------------------------


@pytest.mark.parametrize("reverse", [False, True])
def test_choices_map_back_to_their_prompt_and_sample(srv: Any, reverse: bool) -> None:
    srv.state.knobs.reverse_choices = reverse
    prompts = ["alpha", "beta", "gamma"]
    params = SamplingParams(n=3, temperature=0.7, top_p=0.9, max_tokens=40, stop=("@",), seed=5)
    out = asyncio.run(_generate(_gen(srv), prompts, params))
    assert out == [
        [Completion(_expected(p, 5, j), len(_expected(p, 5, j)), "stop") for j in range(3)]
        for p in prompts
    ]
    (body,) = _completions(srv)
    assert body == {
        "model": "student",
        "prompt": prompts,
        "n": 3,
        "temperature": 0.7,
        "top_p": 0.9,
        "max_tokens": 40,
        "stop": ["@"],
        "seed": 5,
        "return_token_ids": True,
    }


def test_stop_and_length_finish_reasons(srv: Any) -> None:
    params = SamplingParams(max_tokens=12, stop=("|N",))
    out = asyncio.run(_generate(_gen(srv), ["a", "a-much-longer-prompt"], params))
    # The stop string's tokens count (vLLM counts them) though its text is dropped.
    assert out == [
        [Completion("<a", 4, "stop")],
        [Completion("<a-much-long", 12, "length")],
    ]


def test_tokens_from_usage_when_the_server_gives_no_token_ids(srv: Any) -> None:
    srv.state.knobs.token_ids = False
    params = SamplingParams(n=2, temperature=0.7, max_tokens=14, seed=3)
    out = asyncio.run(_generate(_gen(srv), ["x", "yy", "a-long-prompt"], params))
    # One character is one stand-in token, so the split of usage is exact here.
    for per_prompt in out:
        for c in per_prompt:
            assert c.tokens == (14 if c.finish_reason == "length" else len(c.text))
    assert [c.finish_reason for c in out[2]] == ["length", "length"]


def test_split_tokens_keeps_the_usage_total() -> None:
    choices = [
        Choice(0, "abc", "stop", None),
        Choice(1, "abcdefgh", "length", None),
        Choice(2, "a", "stop", None),
        Choice(3, "", "stop", None),
    ]
    counts = _split_tokens(choices, total=20, max_tokens=8)
    assert counts[1] == 8 and sum(counts) == 20 and counts[0] > counts[2] > counts[3] == 0
    assert _split_tokens(choices, total=None, max_tokens=8) == [0, 8, 0, 0]
    with_ids = [Choice(0, "abc", "stop", 2), Choice(1, "q", "stop", 5)]
    assert _split_tokens(with_ids, total=99, max_tokens=8) == [2, 5]


def test_assign_reads_vllm_indices_and_servers_that_ignore_n() -> None:
    def c(i: int) -> Choice:
        return Choice(i, f"t{i}", "stop", None)

    full = _assign([c(3), c(0), c(2), c(1)], n_prompts=2, n=2)
    assert [[x.index for x in g] for g in full] == [[0, 1], [2, 3]]
    one_each = _assign([c(1), c(0)], n_prompts=2, n=3)
    assert [[x.index for x in g] for g in one_each] == [[0], [1]]
    partial = _assign([c(2)], n_prompts=3, n=1)
    assert [[x.index for x in g] for g in partial] == [[], [], [2]]
    assert _assign([c(0), c(1), c(2)], n_prompts=2, n=2) == [[], []]  # cannot attribute


def test_prompts_are_capped_per_request(srv: Any) -> None:
    prompts = [f"p{i}" for i in range(5)]
    gen = _gen(srv, max_prompts_per_request=2)
    out = asyncio.run(_generate(gen, prompts, SamplingParams(n=2, temperature=0.7, seed=1)))
    assert [[c.text for c in per] for per in out] == [
        [_expected(p, 1, 0), _expected(p, 1, 1)] for p in prompts
    ]
    assert sorted(len(b["prompt"]) for b in _completions(srv)) == [1, 2, 2]


def test_a_server_that_ignores_n_is_topped_up_with_distinct_seeds(srv: Any) -> None:
    srv.state.knobs.ignore_n = True
    prompts = ["q1", "q2"]
    params = SamplingParams(n=3, temperature=0.7, seed=11)
    out = asyncio.run(_generate(_gen(srv), prompts, params))
    for p, per in zip(prompts, out, strict=True):
        assert [c.text for c in per] == [_expected(p, s, 0) for s in (11, 12, 13)]
    bodies = _completions(srv)
    assert [(b["n"], b["seed"], b["prompt"]) for b in bodies] == [
        (3, 11, prompts),
        (1, 12, prompts),
        (1, 13, prompts),
    ]


def test_unseeded_top_up_repeats_each_short_prompt(srv: Any) -> None:
    srv.state.knobs.ignore_n = True
    out = asyncio.run(_generate(_gen(srv), ["a", "b"], SamplingParams(n=3, temperature=0.7)))
    assert [len(per) for per in out] == [3, 3]
    assert all(c.text.startswith("<a|") for c in out[0])
    assert all(c.text.startswith("<b|") for c in out[1])
    assert [b["prompt"] for b in _completions(srv)] == [["a", "b"], ["a", "a", "b", "b"]]


def test_still_short_after_the_top_up_bound_raises(srv: Any) -> None:
    srv.state.knobs.ignore_n = True
    gen = _gen(srv, max_topup_rounds=0)
    with pytest.raises(BackendError, match=r"fewer than n=2") as info:
        asyncio.run(_generate(gen, ["a", "b"], SamplingParams(n=2, temperature=0.7)))
    assert info.value.retryable is False


def test_lora_adapter_is_chosen_by_the_model_field(srv: Any) -> None:
    out = asyncio.run(_generate(_gen(srv, model="student-lora"), ["z"], SamplingParams()))
    assert out[0][0].text == _expected("z", None, 0)
    assert _completions(srv)[0]["model"] == "student-lora"


def test_empty_batch_sends_nothing(srv: Any) -> None:
    assert asyncio.run(_generate(_gen(srv), [], SamplingParams())) == []
    assert srv.state.requests == []


# --- retries and errors -------------------------------------------------------------------


def test_500_then_success_is_retried(srv: Any) -> None:
    srv.state.knobs.fail_next = 2
    out = asyncio.run(_generate(_gen(srv), ["r"], SamplingParams()))
    assert out[0][0].text == _expected("r", None, 0)
    assert len(srv.state.requests) == 3


def test_persistent_500_raises_retryable_after_max_retries(srv: Any) -> None:
    srv.state.knobs.fail_next = 100
    with pytest.raises(BackendError, match="HTTP 500: stand-in failure") as info:
        asyncio.run(_generate(_gen(srv, max_retries=2), ["r"], SamplingParams()))
    assert info.value.retryable is True
    assert len(srv.state.requests) == 3


def test_timeout_raises_retryable(srv: Any) -> None:
    srv.state.knobs.delay_s = 1.0
    gen = _gen(srv, timeout_s=0.15, max_retries=1)
    start = time.monotonic()
    with pytest.raises(BackendError, match=r"no answer within 0\.15 s") as info:
        asyncio.run(_generate(gen, ["slow"], SamplingParams()))
    assert info.value.retryable is True
    assert time.monotonic() - start < 0.9


def test_refused_connection_raises_retryable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gen = RemoteGenerator(f"http://127.0.0.1:{port}", "student", **FAST)
    with pytest.raises(BackendError, match="connection failed") as info:
        asyncio.run(_generate(gen, ["x"], SamplingParams()))
    assert info.value.retryable is True


def test_unknown_model_raises_model_not_found_without_retry(srv: Any) -> None:
    gen = _gen(srv, model="no-such-model")
    with pytest.raises(ModelNotFoundError) as info:
        asyncio.run(_generate(gen, ["x"], SamplingParams()))
    assert "no-such-model" in info.value.message and srv.base_url in info.value.message
    assert info.value.retryable is False
    assert len(srv.state.requests) == 1


def test_rejected_request_is_not_retried_and_carries_the_server_message(srv: Any) -> None:
    with pytest.raises(BackendError, match="maximum context length is 2048") as info:
        asyncio.run(_generate(_gen(srv), ["x"], SamplingParams(max_tokens=4000)))
    assert info.value.retryable is False
    assert len(srv.state.requests) == 1


def test_wrong_path_is_a_backend_error_not_model_not_found(srv: Any) -> None:
    gen = RemoteGenerator(srv.base_url + "/v1", "student", **FAST)
    with pytest.raises(BackendError, match="404") as info:
        asyncio.run(_generate(gen, ["x"], SamplingParams()))
    assert not isinstance(info.value, ModelNotFoundError)
    assert info.value.retryable is False


def test_standin_validates_bodies_like_vllm(srv: Any) -> None:
    response = httpx.post(srv.base_url + "/v1/completions", json={"model": "student"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "BadRequestError" and error["code"] == 400
    assert "prompt" in error["message"]
    unknown = httpx.post(srv.base_url + "/v1/completions", json={"model": "m", "prompt": "p"})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["message"] == "The model `m` does not exist."


def test_closed_backend_refuses_calls_and_leaves_a_callers_client_open(srv: Any) -> None:
    async def run() -> None:
        async with httpx.AsyncClient() as client:
            gen = RemoteGenerator(srv.base_url, "student", client=client, **FAST)
            async with gen:
                await gen.generate(["a"], SamplingParams())
            with pytest.raises(BackendError, match="closed"):
                await gen.generate(["a"], SamplingParams())
            assert not client.is_closed

    asyncio.run(run())


def test_bad_arguments_raise_invalid_input() -> None:
    with pytest.raises(InvalidInputError):
        RemoteGenerator("localhost:8000", "m")
    with pytest.raises(InvalidInputError):
        RemoteGenerator("http://x", "m", max_retries=-1)
    with pytest.raises(InvalidInputError):
        RemoteScorer("http://x", "m", object(), activation="softmax")  # type: ignore[arg-type]


# --- scoring ------------------------------------------------------------------------------


class WordTokenizer:
    """A fast-tokenizer stand-in: `<s>` then one token per word or newline, with offsets."""

    def __call__(
        self, text: str, add_special_tokens: bool = True, return_offsets_mapping: bool = False
    ) -> dict[str, list[Any]]:
        ids: list[int] = [1] if add_special_tokens else []
        offsets: list[tuple[int, int]] = [(0, 0)] if add_special_tokens else []
        for m in re.finditer(r"\S+|\n", text):
            ids.append(100 + sum(map(ord, m.group())) % 900)
            offsets.append(m.span())
        return {"input_ids": ids, "offset_mapping": offsets}


ITEMS: list[tuple[str, list[str]]] = [
    ("What is 2 + 3?", ["2 + 3 = 5.", "#### 5"]),
    ("Tom has 4 apples and eats one. How many are left?", ["4 - 1 = 3", "#### 3"]),
    ("Q?", ["only one step"]),
]


async def _score(scorer: RemoteScorer, items: list[tuple[str, list[str]]]) -> list[list[float]]:
    async with scorer:
        return await scorer.score(items)


def _positions(values: list[float]) -> list[int]:
    # The stand-in's logit at token t is t/1000, so t = round(1000 * logit(p)).
    return [round(1000 * math.log(p / (1 - p))) for p in values]


@pytest.mark.parametrize("activation", ["none", "sigmoid"])
def test_scorer_reads_one_probability_per_step_at_the_step_ends(srv: Any, activation: Any) -> None:
    tok = WordTokenizer()
    scorer = RemoteScorer(srv.base_url, "sorm", tok, activation=activation, **FAST)

    out = asyncio.run(_score(scorer, ITEMS))
    encoded = [step_end_tokens(tok, scorer_prompt(q, steps)) for q, steps in ITEMS]
    assert [len(p) for p in out] == [2, 2, 1]
    assert [_positions(p) for p in out] == [e.step_ends for e in encoded]
    assert all(0.5 <= v < 1 for p in out for v in p)
    ((path, body),) = srv.state.requests
    assert path == "/pooling"
    assert body == {
        "model": "sorm",
        "input": [e.input_ids for e in encoded],
        "task": "token_classify",
        "use_activation": activation == "none",
    }


# The first loops' idle keep-alive sockets cannot be closed once their loop is gone; the
# garbage collector frees them (with a ResourceWarning), as the module docstring says.
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_scorer_batches_are_capped_and_survive_successive_event_loops(srv: Any) -> None:
    scorer = RemoteScorer(srv.base_url, "sorm", WordTokenizer(), max_items_per_request=2, **FAST)
    first = asyncio.run(scorer.score(ITEMS))
    second = asyncio.run(scorer.score(ITEMS))  # a new loop: the pooled client is rebuilt
    asyncio.run(scorer.close())
    gc.collect()  # free the dropped sockets here, where their warnings are filtered
    assert first == second and [len(p) for p in first] == [2, 2, 1]
    assert sorted(len(body["input"]) for _, body in srv.state.requests) == [1, 1, 2, 2]


def test_scorer_rejects_logits_when_told_they_are_probabilities(srv: Any) -> None:
    srv.state.knobs.ignore_activation = True
    srv.state.knobs.logit_offset = 2.0
    scorer = RemoteScorer(srv.base_url, "sorm", WordTokenizer(), **FAST)
    with pytest.raises(BackendError, match="activation='sigmoid'") as info:
        asyncio.run(_score(scorer, ITEMS))
    assert info.value.retryable is False


def test_scorer_detects_a_token_count_mismatch(srv: Any) -> None:
    srv.state.knobs.drop_last_row = True
    scorer = RemoteScorer(srv.base_url, "sorm", WordTokenizer(), **FAST)
    with pytest.raises(BackendError, match="values for") as info:
        asyncio.run(_score(scorer, ITEMS[:1]))
    assert info.value.retryable is False


def test_scorer_retries_and_maps_errors(srv: Any) -> None:
    srv.state.knobs.fail_next = 1
    scorer = RemoteScorer(srv.base_url, "sorm", WordTokenizer(), **FAST)
    assert len(asyncio.run(_score(scorer, ITEMS[:1]))[0]) == 2
    missing = RemoteScorer(srv.base_url, "orm", WordTokenizer(), **FAST)
    with pytest.raises(ModelNotFoundError, match="'orm'"):
        asyncio.run(_score(missing, ITEMS[:1]))


def test_scorer_input_checks(srv: Any) -> None:
    scorer = RemoteScorer(srv.base_url, "sorm", WordTokenizer(), **FAST)
    assert asyncio.run(_score(scorer, [])) == []
    with pytest.raises(InvalidInputError):
        asyncio.run(_score(scorer, [("q", [])]))
    assert srv.state.requests == []


# --- concurrency --------------------------------------------------------------------------


def test_concurrent_calls_share_one_client(srv: Any) -> None:
    srv.state.knobs.delay_s = 0.05
    gen = _gen(srv)
    scorer = RemoteScorer(srv.base_url, "sorm", WordTokenizer(), **FAST)

    async def run() -> tuple[list[Any], list[Any]]:
        async with gen, scorer:
            generated = asyncio.gather(
                *(gen.generate([f"c{i}", f"d{i}"], _sampled(i)) for i in range(8))
            )
            scored = asyncio.gather(*(scorer.score(ITEMS) for _ in range(4)))
            return await generated, await scored

    generated, scored = asyncio.run(run())
    for i, out in enumerate(generated):
        assert [[c.text for c in per] for per in out] == [
            [_expected(p, i, 0), _expected(p, i, 1)] for p in (f"c{i}", f"d{i}")
        ]
    assert all(s == scored[0] for s in scored)
    assert srv.state.max_in_flight > 1


# --- request limits, greedy n, deadlines (issue 15) ---------------------------------------


def test_requests_hold_at_most_256_prompts_by_default(srv: Any) -> None:
    # vLLM refuses a list longer than VLLM_MAX_COMPLETION_PROMPTS (1,024) with HTTP 400.
    prompts = [f"p{i}" for i in range(1100)]
    out = asyncio.run(_generate(_gen(srv), prompts, SamplingParams(max_tokens=4)))
    assert [per[0].text for per in out] == [_expected(p, None, 0)[:4] for p in prompts]
    assert sorted(len(b["prompt"]) for b in _completions(srv)) == [76, 256, 256, 256, 256]
    srv.reset()
    items = [("Q?", [f"step {i}"]) for i in range(1100)]
    scorer = RemoteScorer(srv.base_url, "sorm", WordTokenizer(), **FAST)
    assert len(asyncio.run(_score(scorer, items))) == 1100
    assert sorted(len(body["input"]) for _, body in srv.state.requests) == [76, 256, 256, 256, 256]


def test_too_many_prompts_per_request_is_refused_like_vllm(srv: Any) -> None:
    gen = _gen(srv, max_prompts_per_request=2000)
    with pytest.raises(BackendError, match="exceeds the maximum allowed count of 1024") as info:
        asyncio.run(_generate(gen, [f"p{i}" for i in range(1025)], SamplingParams()))
    assert info.value.retryable is False
    with pytest.raises(InvalidInputError, match="max_prompts_per_request"):
        _gen(srv, max_prompts_per_request=0)


def test_greedy_n_above_one_sends_n_1_and_repeats_the_completion(srv: Any) -> None:
    # vLLM: "n must be 1 when using greedy sampling" (HTTP 400); greedy gives one answer.
    out = asyncio.run(_generate(_gen(srv), ["a", "b"], SamplingParams(n=3, temperature=0.0)))
    assert [[c.text for c in per] for per in out] == [
        [_expected(p, None, 0)] * 3 for p in ("a", "b")
    ]
    assert [b["n"] for b in _completions(srv)] == [1]
    refused = httpx.post(
        srv.base_url + "/v1/completions",
        json={"model": "student", "prompt": "a", "n": 2, "temperature": 0},
    )
    assert refused.status_code == 400 and "greedy" in refused.json()["error"]["message"]


def test_a_frozen_server_fails_the_call_at_its_deadline_and_is_abandoned(srv: Any) -> None:
    srv.state.knobs.delay_s = 5.0
    gen = _gen(srv, timeout_s=2.0, max_retries=3, deadline_s=0.4)

    async def run() -> float:
        start = time.monotonic()
        with pytest.raises(BackendError, match=r"deadline of 0\.4 s") as info:
            await gen.generate(["frozen"], SamplingParams())
        elapsed = time.monotonic() - start
        assert info.value.retryable is True
        for _ in range(200):  # the server sees the connection close, before any close()
            if srv.state.abandoned:
                break
            await asyncio.sleep(0.01)
        await gen.close()
        return elapsed

    assert asyncio.run(run()) < 1.0
    assert srv.state.abandoned == 1 and len(srv.state.requests) == 1


def test_connect_timeout_is_shorter_than_the_read_timeout() -> None:
    # A listening socket whose backlog is full never completes a handshake: a dead host.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = [socket.socket() for _ in range(3)]
        for f in fillers:
            f.setblocking(False)
            f.connect_ex(("127.0.0.1", port))
        time.sleep(0.05)
        gen = RemoteGenerator(
            f"http://127.0.0.1:{port}", "m", timeout_s=5.0, connect_timeout_s=0.2, max_retries=0
        )
        start = time.monotonic()
        with pytest.raises(BackendError, match=r"could not connect within 0\.2 s"):
            asyncio.run(_generate(gen, ["x"], SamplingParams()))
        assert time.monotonic() - start < 2.0
        for f in fillers:
            f.close()
    assert RemoteGenerator("http://x", "m", timeout_s=1.0).connect_timeout_s == 1.0
    default = RemoteGenerator("http://x", "m")
    assert default.connect_timeout_s == 5.0 < default.timeout_s
