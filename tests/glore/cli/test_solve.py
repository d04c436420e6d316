"""`glore critique` and `glore solve --trace` on the committed default store: the exact
step check is in what a person reads at the command line."""

import json
from pathlib import Path

from typer.testing import CliRunner

from glore.cli import app

STORE = str(Path(__file__).resolve().parents[3] / "model_store" / "default")
QUESTION = (
    "Mia has 12 apples. Each bag holds 6 apples. Mia buys 3 bags of apples. "
    "How many apples does Mia have now?"
)
WORKING = (
    "The 3 bags hold 3 x 6 = <<3*6=18>>18 apples.\n"
    "Mia now has 12 + 18 = <<12+18=31>>31 apples.\n#### 31"
)


def test_critique_prints_the_slip_its_source_and_the_correct_value() -> None:
    args = ["critique", QUESTION, WORKING, "--store", STORE, "--reveal", "location"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout[result.stdout.index("{") :])
    assert data["first_error"] == 1 and data["source"] == "arithmetic"
    assert data["checks"][1]["check"] == "wrong" and data["checks"][1]["expected"] == "30"


def test_solve_trace_marks_each_steps_check() -> None:
    args = ["solve", QUESTION, "--store", STORE, "--trace", "--where", "checked"]
    result = CliRunner().invoke(app, [*args, "--rerank", "checked", "--strategy", "greedy"])
    assert result.exit_code == 0, result.output
    draft_lines = [line for line in result.stdout.splitlines() if "<<" in line]
    assert draft_lines and all((" ok " in x) or ("WRONG (should be" in x) for x in draft_lines)
    assert "answer:" in result.stdout
    bad = CliRunner().invoke(app, [*args, "--rerank", "vote"])
    assert bad.exit_code != 0 and "rerank must be one of orm, checked" in str(bad.exception)
    assert "Loading weights" not in bad.output  # refused before any model loads
