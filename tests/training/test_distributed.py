"""The pipeline under several processes (`torchrun`, as `accelerate launch` starts them on
GPUs): training stages run on every process with DDP over gloo; sampling and writing happen
once, on the main process."""

import json
import os
import signal
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from glore.errors import ConfigError
from training import dist

RECIPE = {
    "model": {"preset": "nano", "vocab_size": 320},
    "student": {"problems": 64, "train": {"steps": 4, "batch_size": 4}},
    "sample": {"questions": 4, "samples": 2, "max_tokens": 32},
    "sorm_label": {"questions": 2, "k": 2, "noise_prefixes": 1, "noise_k": 3, "bench_prefixes": 1},
    "orm": {"steps": 2, "batch_size": 4},
    "sorm": {"steps": 2, "batch_size": 4},
    "global_refiner": {"steps": 2, "batch_size": 4},
    "local_refiner": {"steps": 2, "batch_size": 4},
    "export": {"name": "ddp", "eval_questions": 4, "eval_samples": 1},
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _launch(cmd: list[str], limit_s: float) -> subprocess.CompletedProcess[str]:
    """Run `torchrun` in its own session, so that a hang kills the workers too (they would
    otherwise go on loading the machine under the rest of the suite), and fail with what
    they printed up to then."""
    env = dict(os.environ, GLORE_DIST_TIMEOUT_S="240")  # a hung collective errors first
    with subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        start_new_session=True,
    ) as proc:  # fmt: skip
        try:
            out, err = proc.communicate(timeout=limit_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            raise AssertionError(
                f"torchrun ran past {limit_s:.0f} s\nstdout:\n{out[-3000:]}\nstderr:\n{err[-3000:]}"
            ) from None
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def test_two_processes_run_every_stage_once(tmp_path: Path) -> None:
    recipe = dict(RECIPE, export={**RECIPE["export"], "store": str(tmp_path / "store")})
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe))
    out = tmp_path / "run"
    port = _free_port()  # not the default 29500, which anything else on the machine may hold
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_port", str(port),
           "-m", "glore", "train", "all", "--recipe", str(path), "--out", str(out)]  # fmt: skip
    done = _launch(cmd, limit_s=600)
    errors = [line for line in done.stderr.splitlines() if "Error" in line]
    stages = [line for line in done.stdout.splitlines() if line.startswith("[")]
    # The stage log says where the processes parted (the CI hang: one skipped a stage).
    assert done.returncode == 0, "\n".join(errors[-20:] + stages[-16:]) or done.stderr[-3000:]
    assert done.stdout.count("[student] done") == 2  # both processes trained
    assert done.stdout.count("[sample] done") == 2  # both passed the stage (one sampled)
    rows = [
        json.loads(line) for f in (out / "sample" / "chunks").glob("*.jsonl") for line in f.open()
    ]
    assert len(rows) == 4 * 2  # written once, not once per process
    manifest = json.loads((tmp_path / "store" / "ddp" / "manifest.json").read_text())
    assert manifest["stages"]["student"]["sft"]["steps"] == 4


def test_collective_timeout_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(dist.TIMEOUT_ENV, raising=False)
    assert dist.timeout() == timedelta(seconds=dist.DEFAULT_TIMEOUT_S)
    monkeypatch.setenv(dist.TIMEOUT_ENV, "90")
    assert dist.timeout() == timedelta(seconds=90)


@pytest.mark.parametrize("raw", ["0", "-5", "soon", "", "nan", "inf"])
def test_collective_timeout_rejects_what_is_not_seconds(
    monkeypatch: pytest.MonkeyPatch, raw: str
) -> None:
    monkeypatch.setenv(dist.TIMEOUT_ENV, raw)
    with pytest.raises(ConfigError, match=r"GLORE_DIST_TIMEOUT_S.*at least 1"):
        dist.timeout()
