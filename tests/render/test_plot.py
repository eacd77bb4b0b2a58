"""`whatif --plot`: a real image, written only where asked, never over a file without --force."""

from __future__ import annotations

import os
import stat
import sys

import pytest

pytest.importorskip("matplotlib")

ARGS = ("whatif", "shufflenet_v2_table2", "--vary", "G=1,2,4,8")


def test_png_and_svg(cli, tmp_path):
    png, svg = tmp_path / "sweep.png", tmp_path / "sweep.svg"
    assert cli(*ARGS, "--plot", png).exit_code == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5_000
    assert cli(*ARGS, "--plot", svg).exit_code == 0
    assert b"<svg" in svg.read_bytes()[:500]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweep.png", "sweep.svg"]  # no temporary left behind


def test_never_overwrites_without_force(cli, tmp_path):
    target = tmp_path / "sweep.png"
    target.write_bytes(b"mine")
    result = cli(*ARGS, "--plot", target)
    assert result.exit_code == 2 and result.stderr.startswith(f"--plot:1:1: error: '{target}' exists (add --force")
    assert target.read_bytes() == b"mine"
    assert cli(*ARGS, "--plot", target, "--force").exit_code == 0
    assert target.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("name", ["sweep.jpg", "missing/sweep.png"])
def test_bad_targets(cli, tmp_path, name):
    result = cli(*ARGS, "--plot", tmp_path / name)
    assert result.exit_code == 2 and result.stderr.startswith("--plot:1:1: error: ")
    assert list(tmp_path.iterdir()) == []


def test_without_matplotlib_names_the_extra(cli, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    result = cli(*ARGS, "--plot", tmp_path / "sweep.png")
    assert result.exit_code == 2
    assert result.stderr == "--plot:1:1: error: --plot needs matplotlib (pip install 'matplotlib>=3.6' in groupcost's environment; from a checkout: pip install -e '.[plot]')\n"
    assert list(tmp_path.iterdir()) == []


def test_plot_has_the_usual_mode(cli, tmp_path):
    pytest.importorskip("matplotlib")
    target = tmp_path / "sweep.svg"
    old = os.umask(0o022)
    try:
        assert cli("whatif", "alexnet_2gpu", "--vary", "G=1,2", "--plot", target).exit_code == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644

