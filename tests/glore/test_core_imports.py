"""The core depends on nothing outside it: no module of `glore/` imports the service, the
training pipeline, the evaluation or the benchmarks (they register their commands through
the `glore.commands` entry points instead)."""

import ast
from pathlib import Path

from typer.testing import CliRunner

from glore.cli import app

CORE = Path(__file__).resolve().parents[2] / "glore"
OUTSIDE = {"service", "training", "evaluation", "bench", "tests"}


def _imported(tree: ast.AST) -> set[str]:
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_no_core_module_imports_the_outer_packages() -> None:
    offenders = {
        str(path.relative_to(CORE)): sorted(_imported(ast.parse(path.read_text())) & OUTSIDE)
        for path in sorted(CORE.rglob("*.py"))
    }
    assert {k: v for k, v in offenders.items() if v} == {}
    assert len(offenders) > 40  # the scan saw the whole package


def test_the_outer_packages_add_their_commands_through_entry_points() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    commands = ("solve", "critique", "tasks", "train", "eval", "calibrate", "serve", "worker")
    for command in (*commands, "bench"):
        assert f" {command} " in result.output, command
