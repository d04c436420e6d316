"""POST /v1/solve and /v1/critique over real HTTP: on a real model store (the served
default when present, else the smoke recipe's), and on scripted backends where the exact
stages and scores matter."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from glore.tasks.arith import ArithTask
from service.protocol import STAGES, CritiqueResponse, SolveResponse
from tests.service.gateway_live import QUESTION, LiveServer, scripted_engine

WORKING = "Mia has 3 + 4 = <<3+4=7>>7 apples.\nMia has 7 - 2 = <<7-2=4>>4 apples.\n#### 4"


def events(live: LiveServer, body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The server-sent events of a streamed solve, as (event, data)."""
    out = []
    with httpx.stream("POST", live.url + "/v1/solve", json={**body, "stream": True}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        event = None
        for line in r.iter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: "):
                assert event is not None
                out.append((event, json.loads(line.removeprefix("data: "))))
    return out


# On the real store ----------------------------------------------------------------------


def test_solve_on_the_real_store(real_server: LiveServer) -> None:
    r = httpx.post(real_server.url + "/v1/solve", json={"question": QUESTION}, timeout=120)
    assert r.status_code == 200, r.text
    result = SolveResponse.model_validate(r.json())
    assert result.strategy == "glore" and result.question == QUESTION
    assert result.candidates[0].name == "draft" and result.winner in {
        c.name for c in result.candidates
    }
    assert {"draft", "orm", "sorm"} <= set(result.stages)
    assert set(result.models) == {"student", "orm", "sorm", "global", "local"}


@pytest.mark.parametrize("strategy", ["greedy", "best_of_n", "local_orm"])
def test_other_strategies_on_the_real_store(real_server: LiveServer, strategy: str) -> None:
    body = {"question": QUESTION, "strategy": strategy, "options": {"best_of": 2, "max_tokens": 32}}
    r = httpx.post(real_server.url + "/v1/solve", json=body, timeout=120)
    assert r.status_code == 200, r.text
    assert r.json()["strategy"] == strategy


def test_stream_on_the_real_store_sends_the_stages_in_order(real_server: LiveServer) -> None:
    got = events(real_server, {"question": QUESTION, "options": {"max_tokens": 48}})
    names = [e for e, _ in got]
    assert names[:3] == ["draft", "orm", "sorm"] and names[-1] == "final"
    assert names == [s for s in STAGES if s in names]  # in order, each once
    final = SolveResponse.model_validate(got[-1][1])
    assert final.candidates[0].text == got[0][1]["candidates"][0]["text"]


README_QUESTION = (
    "Mia has 12 apples. Each bag holds 6 apples. Mia buys 3 bags of apples. "
    "How many apples does Mia have now?"
)
README_WORKING = (
    "The 3 bags hold 3 x 6 = <<3*6=18>>18 apples.\n"
    "Mia now has 12 + 18 = <<12+18=31>>31 apples.\n#### 31"
)


def test_critique_flags_the_readme_slip_exactly(real_server: LiveServer) -> None:
    body = {"question": README_QUESTION, "solution": README_WORKING, "reveal": "step"}
    r = httpx.post(real_server.url + "/v1/critique", json=body, timeout=120)
    assert r.status_code == 200, r.text
    c = CritiqueResponse.model_validate(r.json())
    assert c.first_error == 1 and c.source == "arithmetic"
    assert [x.check for x in c.checks] == ["ok", "wrong", "unchecked"]
    assert c.checks[1].expected == "30" and c.checks[1].equation == "12 + 18 = 31"
    assert len(c.step_values) == 3  # the SORM's values stay beside the check
    assert c.correction_verified is (
        c.correction_check is not None and c.correction_check.check == "ok"
    )
    if not c.correction_verified:
        assert c.correction_note and "could not be verified" in c.correction_note


def test_checked_options_over_http(real_server: LiveServer) -> None:
    options = {"where": "checked", "rerank": "checked", "max_tokens": 48}
    body = {"question": QUESTION, "options": options}
    r = httpx.post(real_server.url + "/v1/solve", json=body, timeout=120)
    assert r.status_code == 200, r.text
    result = SolveResponse.model_validate(r.json())
    assert all(c.checks is not None and len(c.checks) == len(c.steps) for c in result.candidates)
    bad = httpx.post(real_server.url + "/v1/solve", json={**body, "options": {"where": "orm"}})
    assert bad.status_code == 422 and "where" in bad.text


@pytest.mark.parametrize("reveal", ["location", "step", "full"])
def test_critique_on_the_real_store(real_server: LiveServer, reveal: str) -> None:
    body = {"question": QUESTION, "solution": WORKING, "reveal": reveal}
    r = httpx.post(real_server.url + "/v1/critique", json=body, timeout=120)
    assert r.status_code == 200, r.text
    c = CritiqueResponse.model_validate(r.json())
    assert c.steps == WORKING.splitlines() and len(c.step_values) == 3
    assert c.reveal == reveal and 0.0 <= c.orm_confidence <= 1.0
    if reveal == "location" or c.first_error is None:
        assert c.corrected_step is None and c.corrected_solution is None
    if reveal != "full":
        assert c.corrected_solution is None and c.corrected_answer is None


# On scripted backends -------------------------------------------------------------------


@pytest.fixture
def live(serve: Callable[..., LiveServer]) -> LiveServer:
    return serve(engine=scripted_engine(), redis_url=None)


def test_stream_sends_every_stage_in_order_with_its_evidence(live: LiveServer) -> None:
    got = events(live, {"question": QUESTION})
    assert [e for e, _ in got] == [s for s in STAGES if s != "repair"]  # glore repairs nothing
    data = dict(got)
    assert "index" not in data["draft"]
    assert data["draft"]["candidates"][0]["name"] == "draft"
    assert data["orm"]["scores"] == [{"candidate": "draft", "orm_score": 0.3}]
    assert data["sorm"]["scores"][0]["first_error"] == 1
    assert data["global"]["candidate"]["name"] == "global"
    assert data["local"]["candidate"]["answer"] == "5"
    final = SolveResponse.model_validate(data["final"])
    assert final.winner == "local" and final.answer == "5" and final.refined


def test_a_gated_stream_skips_the_refiners(live: LiveServer) -> None:
    got = events(live, {"question": QUESTION, "options": {"mode": "gated", "tau_when": 0.2}})
    assert [e for e, _ in got] == ["draft", "orm", "sorm", "final"]


def test_the_rerank_margin_option_over_http(live: LiveServer) -> None:
    def solve(options: dict[str, Any]) -> httpx.Response:
        return httpx.post(live.url + "/v1/solve", json={"question": QUESTION, "options": options})

    assert solve({}).json()["winner"] == "local"  # scripted models carry no margin: argmax
    kept = solve({"rerank_margin": 1.0}).json()
    assert kept["winner"] == "draft" and "margin 1.00" in kept["reason"]
    bad = solve({"rerank_margin": 1.5})
    assert bad.status_code == 422 and "rerank_margin" in bad.text
    assert solve({"rerank_margin": 0.0}).status_code == 200
    floored = solve({"rerank_floor": 0.99}).json()  # the scripted local refinement scores lower
    assert floored["winner"] == "draft" and "below the floor 0.99" in floored["reason"]
    bad = solve({"rerank_floor": -0.1})
    assert bad.status_code == 422 and "rerank_floor" in bad.text
    vote = httpx.post(live.url + "/v1/solve", json={"question": QUESTION, "strategy": "glore_vote"})
    assert vote.status_code == 200 and vote.json()["strategy"] == "glore_vote"


def test_the_json_answer_equals_the_streams_final(live: LiveServer) -> None:
    r = httpx.post(live.url + "/v1/solve", json={"question": QUESTION})
    streamed = events(live, {"question": QUESTION})[-1][1]
    a, b = r.json(), streamed
    for x in (a, b):  # wall times differ between runs
        x["stages"] = {k: v["tokens"] for k, v in x["stages"].items()}
    assert a == b


def test_critique_reveals_only_what_it_is_asked(live: LiveServer) -> None:
    body = {"question": QUESTION, "solution": WORKING}
    full = httpx.post(live.url + "/v1/critique", json=body).json()
    assert full["first_error"] == 1 and full["corrected_answer"] == "5"
    loc = httpx.post(live.url + "/v1/critique", json={**body, "reveal": "location"}).json()
    assert loc["first_error"] == 1 and loc["corrected_step"] is None
    assert loc["corrected_answer"] is None


def test_a_client_that_leaves_a_stream_stops_its_pipeline(
    serve: Callable[..., LiveServer],
) -> None:
    live = serve(engine=scripted_engine(refine_delay=30.0), redis_url=None)
    gate = live.app.state.glore.gate
    body = {"question": QUESTION, "stream": True}
    with httpx.stream("POST", live.url + "/v1/solve", json=body) as r:
        assert r.status_code == 200
        lines = r.iter_lines()
        while next(lines) != "event: sorm":
            pass
        assert gate.count == 1  # the global refiner is still working
        lines.close()  # the client leaves
    deadline = time.monotonic() + 5
    while gate.count and time.monotonic() < deadline:
        time.sleep(0.01)
    assert gate.count == 0


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/solve", {"question": QUESTION}),
        ("/v1/chat/completions",
         {"model": "glore", "messages": [{"role": "user", "content": QUESTION}]}),
        ("/v1/completions", {"model": "greedy", "prompt": QUESTION}),
    ],
)  # fmt: skip
def test_a_client_that_leaves_a_plain_request_stops_its_pipeline(
    serve: Callable[..., LiveServer], path: str, body: dict[str, Any]
) -> None:
    """Not a stream: the handler awaits the engine; a disconnect cancels it and frees the
    slot at once, not when the 30 s refinement would have ended."""
    live = serve(engine=scripted_engine(delay=30.0), redis_url=None)
    gate = live.app.state.glore.gate
    left = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):  # the client gives up and closes the connection
        httpx.post(live.url + path, json=body, timeout=httpx.Timeout(5, read=0.5))
    while gate.count and time.monotonic() - left < 10:
        time.sleep(0.01)
    assert gate.count == 0 and time.monotonic() - left < 5


def _metric(text: str, series: str) -> float:
    lines = [ln for ln in text.splitlines() if ln.startswith(series + " ")]
    assert lines, f"{series} missing from /metrics"
    return float(lines[0].split()[-1])


def test_metrics_count_the_scorers_prefix_cache(real_server: LiveServer) -> None:
    question = ArithTask().load("test", 40)[-1].question  # one no other test asks
    body = {"question": question, "options": {"mode": "always"}}
    before = httpx.get(real_server.url + "/metrics").text
    assert httpx.post(real_server.url + "/v1/solve", json=body, timeout=120).status_code == 200
    after = httpx.get(real_server.url + "/metrics").text
    for role in ("orm+sorm",):  # the default store's SORM shares the ORM's model and cache
        queries = f'glore_prefix_cache_queries_total{{role="{role}"}}'
        hits = f'glore_prefix_cache_hits_total{{role="{role}"}}'
        looked = _metric(after, queries) - (_metric(before, queries) if queries in before else 0)
        found = _metric(after, hits) - (_metric(before, hits) if hits in before else 0)
        # the draft, then two refinements that start with the draft's question
        assert looked > 0 and 0 < found < looked


def test_an_unsure_answer_says_abstain(live: LiveServer) -> None:
    body = {"question": QUESTION, "strategy": "greedy", "options": {"abstain_below": 0.5}}
    unsure = SolveResponse.model_validate(httpx.post(live.url + "/v1/solve", json=body).json())
    assert unsure.abstain and unsure.abstain_reason and "0.30" in unsure.abstain_reason
    sure = httpx.post(live.url + "/v1/solve", json={**body, "options": {"abstain_below": 0.2}})
    assert sure.json()["abstain"] is False
    bad = httpx.post(live.url + "/v1/solve", json={**body, "options": {"abstain_below": 3}})
    assert bad.status_code == 422 and "abstain_below" in bad.text
