from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import settings
from typer.testing import CliRunner

from groupcost.cli.app import app

TESTS = Path(__file__).parent

# Property tests draw the same examples on every run, so a CI failure can always be reproduced.
settings.register_profile("groupcost", derandomize=True)
settings.load_profile("groupcost")


class Cli:
    """Runs `groupcost ARGS...` in-process; exposes exit code, stdout and stderr."""

    def __init__(self):
        self.runner = CliRunner()

    def __call__(self, *args: str, env: dict[str, str | None] | None = None, input: str | None = None):
        """Output to a pipe, 120 columns unless `env` sets COLUMNS (the developer's own COLUMNS is ignored)."""
        return self.runner.invoke(app, [str(a) for a in args], env={"COLUMNS": None, **(env or {})}, input=input)


@pytest.fixture
def cli() -> Cli:
    return Cli()


@pytest.fixture
def write_spec(tmp_path):
    """Write spec text to a file and return its path."""

    def write(text: str, name: str = "spec.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


# Zoo models too large to execute at their full input in every test run: NumPy and PyTorch run them
# at a smaller input (their full-size figures are asserted analytically in language/test_zoo.py).
SMALLER_INPUT = {
    "fcn_resnet50": (3, 128, 128),
    "deeplabv3_mobilenet_v3_large": (3, 128, 128),
    "lraspp_mobilenet_v3_large": (3, 128, 128),
    "unet_2015": (1, 204, 204),
    "r3d_18": (3, 8, 56, 56),
    "r2plus1d_18": (3, 8, 56, 56),
    "resnext101_64x4d": (3, 112, 112),
    "wide_resnet50_2": (3, 112, 112),
    "efficientnet_v2_s": (3, 128, 128),
}


def executable(name: str):
    """The zoo model `name`, at a smaller input where running it at full size would be slow."""
    import groupcost

    return groupcost.load(name, input_shape=SMALLER_INPUT.get(name))
