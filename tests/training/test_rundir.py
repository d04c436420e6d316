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
