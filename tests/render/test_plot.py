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



# ---- what the figure shows ---------------------------------------------------------------------

LAYER_ARGS = ("whatif", "resnext50_32x4d", "--layer", "layer2.0.conv2", "--g", "1,8,32")
LAYER2_CONV2_MACS = {g: 256 * (256 // g) * 3 * 3 * 28 * 28 for g in (1, 8, 32)}  # BRIEF.md: C_out·(C_in/G)·K²·H_out·W_out, 56 → 28 at stride 2


def svg_text(cli, tmp_path, monkeypatch, *args: str) -> str:
    """The figure as SVG with its text kept as text (matplotlib draws glyphs as paths by default)."""
    import matplotlib

    monkeypatch.setitem(matplotlib.rcParams, "svg.fonttype", "none")
    target = tmp_path / "sweep.svg"
    result = cli(*args, "--plot", target)
    assert result.exit_code == 0, result.stderr
    return target.read_text(encoding="utf-8")


def test_axes_read_in_the_tables_units_with_a_latency_panel(cli, tmp_path, monkeypatch):
    svg = svg_text(cli, tmp_path, monkeypatch, *ARGS, "--device", "gtx1080ti")
    for tick in ("500 M", "150 K", "80 MiB", "200 µs"):  # 513.80 M MACs, 163.84 K params, 86.8 MiB traffic, 188 µs at G=8
        assert f">{tick}<" in svg, tick
    assert "1e8" not in svg and "1e6" not in svg and "est. latency" in svg
    assert "shufflenet_v2_table2: what if G changed" in svg and "11.34 TFLOP/s" in svg  # the title wraps, never inside a figure


def test_a_layer_sweep_plots_that_layers_figures(cli, tmp_path, monkeypatch):
    from groupcost.render import units

    svg = svg_text(cli, tmp_path, monkeypatch, *LAYER_ARGS)
    assert "layer2.0.conv2: MACs" in svg and "layer2.0.conv2: est. latency" in svg
    for g, macs in LAYER2_CONV2_MACS.items():
        assert f">{units.count(macs)}<" in svg, g
    assert "4.68 G" not in svg  # the network's total at G=1, nearly flat across G: not what a layer sweep is about


def test_layer_figures_are_the_layers_rows():
    import groupcost
    from groupcost.render.sweep import figures

    sweep = groupcost.whatif("resnext50_32x4d", layer="layer2.0.conv2", groups=[1, 8, 32])
    macs, params, *_ = figures(sweep)
    assert macs.values == tuple(LAYER2_CONV2_MACS[g] for g in (1, 8, 32))
    assert params.values == tuple(256 * (256 // g) * 9 for g in (1, 8, 32))  # bias=False in torchvision's Bottleneck
