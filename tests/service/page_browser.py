"""Driving the playground page in a real browser: the system's Chromium under Playwright
(nothing is downloaded: Playwright is pointed at the Debian `chromium` binary).

`chromium_path()` finds the binary (`GLORE_CHROMIUM`, else Debian's), `why_no_browser()`
says why the browser tests must skip, and `python -m tests.service.page_browser DIR`
writes the screenshots the README shows (`make screenshots`).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CANDIDATES = ("/usr/lib/chromium/chromium", "/usr/bin/chromium", "/usr/bin/chromium-browser")
"""Debian's real binary first: `/usr/bin/chromium` is a shell launcher around it."""

QUESTION = (
    "Mia has 12 apples. Each bag holds 6 apples. Mia buys 3 bags of apples. "
    "How many apples does Mia have now?"
)
WORKING = "The 3 bags hold 3 x 6 = 18 apples.\nMia now has 12 + 18 = 31 apples.\n#### 31"
"""A working whose second step is wrong (12 + 18 is 30): the exact check flags it."""


def chromium_path() -> str | None:
    given = os.environ.get("GLORE_CHROMIUM")
    if given:
        return given if Path(given).is_file() else None
    for path in CANDIDATES:
        if Path(path).is_file():
            return path
    return shutil.which("chromium")


def why_no_browser() -> str | None:
    """None when the browser tests can run, else the reason they skip."""
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed (pip install '.[dev]')"
    if chromium_path() is None:
        return (
            "no Chromium: install Debian's `chromium` (apt-get install chromium) or set "
            "GLORE_CHROMIUM to a Chromium binary"
        )
    return None


@contextmanager
def browser() -> Iterator[Any]:
    """A headless Chromium (`playwright.sync_api.Browser`), closed at the end."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=chromium_path(), headless=True)
        try:
            yield launched
        finally:
            launched.close()


def panel(page: Any, name: str) -> Any:
    return page.get_by_role("tabpanel", name=name)


def critique(page: Any, question: str, working: str, reveal: str = "Location") -> None:
    """Fill the critique view and submit it; returns once its answer or error is shown."""
    view = panel(page, "Critique a working")
    view.get_by_label("Question").fill(question)
    view.get_by_label("The student's working").fill(working)
    view.get_by_role("radio", name=reveal).check()
    view.get_by_role("button", name="Find the first wrong step").click()
    page.wait_for_selector("#critique-result .steps, #critique-error:not([hidden])")


def solve(page: Any, question: str, timeout_ms: float = 120_000) -> None:
    """Switch to the solve view, submit `question`, wait for the final stage (or an error)."""
    page.get_by_role("tab", name="Solve a question").click()
    view = panel(page, "Solve a question")
    view.get_by_label("Question").fill(question)
    view.get_by_role("button", name="Solve", exact=True).click()
    page.wait_for_selector("[data-stage=final], #solve-error:not([hidden])", timeout=timeout_ms)


def screenshots(out: Path, store: str = "model_store/default") -> list[Path]:
    """The critique view (reveal `step`) and a finished solve, as PNGs in `out`."""
    from bench.loopback import LoopbackServer
    from service.app import create_app
    from service.settings import Settings

    out.mkdir(parents=True, exist_ok=True)
    server = LoopbackServer(create_app(Settings(_env_file=None, models=store, redis_url=None)))  # type: ignore[call-arg]
    written = [out / "page-critique.png", out / "page-solve.png"]
    try:
        with browser() as b:
            page = b.new_page(viewport={"width": 1100, "height": 900})
            page.goto(server.url + "/")
            critique(page, QUESTION, WORKING, reveal="Step")
            page.screenshot(path=str(written[0]), full_page=True)
            solve(page, QUESTION)
            page.screenshot(path=str(written[1]), full_page=True)
    finally:
        server.stop()
    return written


if __name__ == "__main__":
    for path in screenshots(Path(sys.argv[1] if len(sys.argv) > 1 else "docs")):
        print(path)
