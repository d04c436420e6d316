"""The run directory's hand-off between processes: a stage's summary, awaited."""

import threading
import time
from pathlib import Path

import pytest

from glore.errors import GloreError
from training.rundir import RunDir


def test_a_summary_written_late_is_awaited(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "run", "digest")
    writer = threading.Timer(0.3, run.finish, ("sample", {"rows": 3}, time.time()))
    writer.start()
    try:
        summary = run.wait_summary("sample", timeout_s=10)
    finally:
        writer.join()
    assert summary["rows"] == 3 and summary["stage"] == "sample"


def test_a_summary_never_written_fails_naming_the_stage(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "run", "digest")
    with pytest.raises(GloreError, match="stage 'export': the main process wrote no"):
        run.wait_summary("export", timeout_s=0.2)


def test_a_summary_written_during_the_launch_does_not_skip_its_stage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under several processes the main one can finish a quick stage and write its summary
    before a slower process looks; that process must still run the stage (the others wait
    for it at a collective). Here the tokenizer stage writes the verifier's summary, as the
    main process would have, and the verifier still runs."""
    from training import pipeline
    from training.recipe import Recipe

    ran: list[str] = []

    def fake(name: str) -> object:
        def run(ctx: object) -> dict[str, object]:
            ran.append(name)
            if name == "tokenizer":
                RunDir(tmp_path / "run", "d").finish("verifier", {"raced": True}, time.time())
            return {"stage": name, "seconds": 0.0}

        return run

    monkeypatch.setattr(pipeline, "stage_fn", fake)
    monkeypatch.setattr(pipeline, "check_sizes", lambda *a: None)
    recipe = Recipe()
    monkeypatch.setattr(Recipe, "digest", lambda self: "d")
    pipeline.run_stages(recipe, tmp_path / "run", ("tokenizer", "student", "verifier"), log=str)
    assert ran == ["tokenizer", "student", "verifier"]
