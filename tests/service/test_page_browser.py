"""The playground page in a real browser (the system's headless Chromium), against the
gateway on a real model store over loopback. Each check compares what the page shows with
what the API itself answers for the same input."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.app import create_app
from tests.service.gateway_live import LiveServer, settings
from tests.service.page_browser import (
    QUESTION,
    WORKING,
    browser,
    critique,
    panel,
    solve,
    why_no_browser,
)

pytestmark = pytest.mark.skipif(why_no_browser() is not None, reason=str(why_no_browser()))


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with browser() as b:
        yield b


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context(viewport={"width": 1100, "height": 900})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda e: errors.append(str(e)))
    yield tab
    context.close()
    assert not errors, errors  # no script error on any page a test drove


@pytest.fixture
def server_with(real_store: Path) -> Iterator[Any]:
    """`server_with(**settings)`: another gateway over the real store, stopped after."""
    servers: list[LiveServer] = []

    def start(**overrides: Any) -> LiveServer:
        servers.append(LiveServer(create_app(settings(models=str(real_store), **overrides))))
        return servers[-1]

    yield start
    for s in servers:
        s.stop()


def _api_critique(url: str, reveal: str) -> dict[str, Any]:
    body = {"question": QUESTION, "solution": WORKING, "reveal": reveal}
    r = httpx.post(url + "/v1/critique", json=body, timeout=60)
    r.raise_for_status()
    return dict(r.json())


def test_critique_marks_the_wrong_step_and_reveals_as_asked(
    page: Any, real_server: LiveServer
) -> None:
    truth = _api_critique(real_server.url, "full")
    page.goto(real_server.url + "/")
    critique(page, QUESTION, WORKING, reveal="Location")
    marked = page.locator("#critique-result .first-error")
    assert marked.get_attribute("data-step") == str(truth["first_error"]) == "1"
    assert "should be 30" in marked.inner_text() and "First wrong step" in marked.inner_text()
    shown = page.locator("#critique-result .steps .value").all_text_contents()
    assert shown == [f"SORM {v:.2f}" for v in truth["step_values"]]  # printed, not colour only
    assert page.locator(".corrected-step").count() == 0
    assert "Reveal level location" in page.inner_text("#critique-result")

    view = panel(page, "Critique a working")
    view.get_by_role("radio", name="Step").check()  # a new level asks the API again
    page.wait_for_selector(".corrected-step")
    assert page.inner_text(".corrected-step") == truth["corrected_step"]
    assert "Corrected solution" not in page.inner_text("#critique-result")

    view.get_by_role("radio", name="Full").check()
    page.wait_for_selector(".revealed .steps")
    corrected = page.locator(".revealed .steps .text").all_inner_texts()
    assert corrected == truth["corrected_solution"]


def _api_stream(url: str) -> list[tuple[str, dict[str, Any]]]:
    events, event = [], ""
    body = {"question": QUESTION, "stream": True}
    with httpx.stream("POST", url + "/v1/solve", json=body, timeout=120) as r:
        for line in r.iter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                events.append((event, json.loads(line[5:])))
    return events


def test_a_solve_streams_its_stages_in_order_and_shows_the_winner(
    page: Any, real_server: LiveServer
) -> None:
    truth = _api_stream(real_server.url)
    final = truth[-1][1]
    page.goto(real_server.url + "/")
    solve(page, QUESTION)
    stages = [s.get_attribute("data-stage") for s in page.locator("[data-stage]").all()]
    assert stages == [name for name, _ in truth]
    assert stages[0] == "draft" and stages[-1] == "final" and {"global", "local"} <= set(stages)
    winner = page.locator(".candidate.winner")
    assert winner.count() == 1 and winner.get_attribute("data-candidate") == final["winner"]
    line = page.inner_text(".winner-line")
    assert final["winner"] in line and str(final["answer"]) in line
    assert final["reason"] in page.inner_text("[data-stage=final] .reason")
    costs = page.locator(".costs tbody th").all_inner_texts()
    assert sorted(costs) == sorted(final["stages"])  # orm and sorm run concurrently
    # Each refinement sits beside the other with its ORM score and its diff from the draft.
    for name in ("global", "local"):
        card = page.locator(f"[data-stage={name}] .candidate")
        score = next(c["orm_score"] for c in final["candidates"] if c["name"] == name)
        assert f"ORM {score:.3f}" in card.inner_text()
        assert card.locator(".diff, .diff-none").count() == 1
    # The draft's restart step is shown as its first wrong step only where the API flags it.
    draft = next(c for c in final["candidates"] if c["name"] == "draft")
    marked = page.locator("[data-stage=draft] .candidate").locator(".first-error, .restart")
    kind = "first-error" if draft["first_error_flagged"] else "restart"
    assert marked.count() == 1 and kind in (marked.get_attribute("class") or "")
    assert marked.get_attribute("data-step") == str(draft["first_error"])


def test_a_bad_input_shows_the_apis_message(page: Any, real_server: LiveServer) -> None:
    long_question = "How many? " * 300  # past GLORE_MAX_QUESTION_CHARS (2000)
    api = httpx.post(
        real_server.url + "/v1/critique", json={"question": long_question, "solution": "x"}
    ).json()
    page.goto(real_server.url + "/")
    critique(page, long_question, "x")
    shown = page.inner_text("#critique-error")
    assert page.locator("#critique-error").get_attribute("role") == "alert"
    assert api["title"] in shown and api["errors"][0]["msg"] in shown
    assert "question" in shown

    solve(page, long_question)
    assert api["errors"][0]["msg"] in page.inner_text("#solve-error")
    assert page.locator("[data-stage]").count() == 0


def test_an_api_key_stays_in_the_pages_memory(page: Any, server_with: Any) -> None:
    key = "tutor-key-0123456789"
    live = server_with(api_keys=[key], redis_url=None)
    sent: list[str | None] = []

    def seen(request: Any) -> None:
        if "/v1/" in request.url:
            sent.append(request.headers.get("authorization"))

    page.on("request", seen)
    page.goto(live.url + "/")
    critique(page, QUESTION, WORKING)
    assert "API key" in page.inner_text("#critique-error")  # 401: the API's own message
    page.get_by_label("API key").fill(key)
    critique(page, QUESTION, WORKING)
    assert page.locator("#critique-error").is_hidden()
    assert page.locator("#critique-result .first-error").count() == 1
    assert sent == [None, f"Bearer {key}"]
    stored = page.evaluate(
        "() => JSON.stringify([{...localStorage}, {...sessionStorage}, document.cookie])"
    )
    assert key not in stored and key not in page.url


def test_an_unsure_answer_is_shown_as_unsure(page: Any, server_with: Any) -> None:
    live = server_with(abstain_below=0.999, redis_url=None)
    page.goto(live.url + "/")
    solve(page, QUESTION)
    notice = page.locator("[data-stage=final] .abstain")
    assert notice.count() == 1 and "Unsure" in notice.inner_text()
    assert "0.999" in notice.inner_text() or "1.00" in notice.inner_text()


def test_keyboard_and_labels(page: Any, real_server: LiveServer) -> None:
    page.goto(real_server.url + "/")
    page.get_by_role("tab", name="Critique a working").focus()
    page.keyboard.press("ArrowRight")
    assert page.get_by_role("tab", name="Solve a question").get_attribute("aria-selected") == "true"
    assert panel(page, "Solve a question").is_visible()
    assert page.evaluate("() => document.activeElement.id") == "tab-solve"
    page.keyboard.press("ArrowRight")  # wraps round
    assert panel(page, "Critique a working").is_visible()
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input, textarea, select, button')]
              .filter((c) => !(c.labels?.length || c.getAttribute('aria-label')
                               || (c.tagName === 'BUTTON' && c.textContent.trim())))
              .map((c) => c.outerHTML)"""
    )
    assert unlabelled == []
