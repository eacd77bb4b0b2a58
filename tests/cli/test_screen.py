"""What the commands print answers the question asked: a layer sweep names its layer once, marks the spec's own G and
measures from it."""

from __future__ import annotations

import json

# torchvision's resnext50_32x4d (BRIEF.md): 25,028,904 params; layer2.0.conv2 is a 3×3 conv 256 → 256 with G = 32
RESNEXT50_PARAMS = 25_028_904
LAYER = "layer2.0.conv2"


def conv_weights(c_in: int, c_out: int, k: int, groups: int) -> int:
    return c_out * (c_in // groups) * k * k  # BRIEF.md: C_out · (C_in / G) · K_h · K_w


def table_rows(text: str) -> dict[str, list[str]]:
    rows = {}
    for line in text.splitlines():
        if line.startswith("│"):
            cells = [c.strip() for c in line.split("│")[1:-1]]
            rows[cells[0]] = cells
    return rows


def test_whatif_layer_names_the_layer_once_and_measures_from_its_own_g(cli):
    result = cli("whatif", "resnext50_32x4d", "--layer", LAYER, "--g", "1,8,32")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"resnext50_32x4d: what if {LAYER}'s G changed"
    rows = table_rows(result.stdout)
    assert list(rows) == ["G=1", "G=8", "G=32 *"]  # the long name is in the title, not in every row; * = the spec's G
    header = next(line for line in lines if line.startswith("┃"))
    titles = [c.strip() for c in header.split("┃")[1:-1]]
    assert all(rows["G=32 *"][titles.index(t)] == "+0.0%" for t in ("Δparams", "ΔMACs", "Δtraffic", "Δlatency"))
    grown = conv_weights(256, 256, 3, 1) - conv_weights(256, 256, 3, 32)
    assert rows["G=1"][titles.index("Δparams")] == f"{grown / RESNEXT50_PARAMS:+.1%}" == "+2.3%"
    assert "* = the G the spec gives layer2.0.conv2; Δ against it" in " ".join(lines)


def test_whatif_layer_json_keeps_the_full_figures(cli):
    result = cli("whatif", "resnext50_32x4d", "--layer", LAYER, "--g", "1,32", "--format", "json")
    params = {row["groups"]: row["params"] for row in json.loads(result.stdout)["configurations"]}
    assert params == {32: RESNEXT50_PARAMS, 1: RESNEXT50_PARAMS + conv_weights(256, 256, 3, 1) - conv_weights(256, 256, 3, 32)}


def test_whatif_vary_marks_the_spec_as_written_and_measures_from_it(cli):
    """resnext50_32x4d is written with G=32: its row is marked and every Δ is measured from it, not from G=1."""
    result = cli("whatif", "resnext50_32x4d", "--vary", "G=1,32", "--format", "markdown")
    assert result.exit_code == 0, result.stderr
    g32 = next(line for line in result.stdout.splitlines() if line.startswith("| G=32 *"))
    assert g32.count("+0.0%") == 4
    assert "* = the spec as written; Δ against it" in result.stdout
