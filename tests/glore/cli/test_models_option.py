"""One name for the models option: `--models` on `glore solve`, `critique`, `serve`,
`worker`, `eval` and `calibrate`, with `--store` kept as an alias on each."""

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from glore.cli import app


@pytest.mark.parametrize("flag", ["--models", "--store"])
def test_solve_takes_models_and_the_store_alias(flag: str, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-spec.yaml"
    result = CliRunner().invoke(app, ["solve", "What is 1 + 1?", flag, str(missing)])
    assert result.exit_code != 0
    assert "neither a model store folder nor a spec file" in str(result.exception)
    assert str(missing) in str(result.exception)


def test_every_command_names_the_option_models_with_store_as_alias() -> None:
    pytest.importorskip("service.cli")
    group = typer.main.get_command(app)
    for name in ("solve", "critique", "serve", "worker", "eval", "calibrate"):
        command = group.commands[name]  # type: ignore[attr-defined]
        (option,) = [p for p in command.params if "--models" in p.opts]
        assert option.opts == ["--models", "--store"], name
