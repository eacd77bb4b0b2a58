"""Tables fit: no cell is ever cut at 80, 100 or 200 columns, for every command and every zoo model.

Rendered in-process with a pinned console width (fast); a few cases run the real command
through a pseudo-terminal and through a pipe, where COLUMNS and NO_COLOR must be honoured.
"""

from __future__ import annotations

import functools
import itertools
import os
import re
import subprocess
import sys

import pytest
from rich.cells import cell_len
from rich.console import Console

import groupcost
from groupcost.render import catalog, compare, guard, report, sweep, variants, verify
from groupcost.render import units

WIDTHS = (80, 100, 200)
ZOO = groupcost.zoo_names()


def render(renderable, width: int) -> str:
    console = Console(width=width, record=True, file=open(os.devnull, "w"), highlight=False)  # noqa: SIM115
    console.print(renderable, crop=False)
    return console.export_text(styles=False)


def assert_fits(text: str, width: int, figures: list[str] = ()) -> None:
    assert "…" not in text, "a cell was cut"
    too_long = [line for line in text.splitlines() if cell_len(line) > width]
    assert not too_long, f"{len(too_long)} line(s) wider than {width}: {too_long[0]!r}"
    for figure in figures:
        assert figure in text, f"{figure!r} is not shown whole"


def first_column(text: str, key_column: int) -> list[str]:
    """The first column of a Grid's body, wrapped fragments joined (a new row starts where `key_column` has a value)."""
    names: list[str] = []
    body = False
    for line in text.splitlines():
        if line.startswith("┡"):
            body = True
        elif line.startswith(("├", "└")):
            body = False
        elif body and line.startswith("│"):
            cells = [c.strip() for c in line.split("│")[1:-1]]
            if cells[key_column] or not names:
                names.append(cells[0])
            else:
                names[-1] += cells[0]
    return names


def header_titles(text: str) -> list[str]:
    header = next(line for line in text.splitlines() if line.startswith("┃"))
    return [c.strip() for c in header.split("┃")[1:-1]]


@functools.cache
def network(name: str):
    return groupcost.load(name)


@functools.cache
def analysis(name: str):
    return groupcost.analyze(network(name))


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", ZOO)
def test_analyze_fits(name, width):
    r = analysis(name)
    text = render(report.to_table(r), width)
    header = next(line for line in text.splitlines() if line.startswith("┃"))
    titles = [c.strip() for c in header.split("┃")[1:-1]]
    assert {"layer", "output", "params", "MACs"} <= set(titles)
    params_column = titles.index("params")
    assert first_column(text, params_column) == [row.name for row in r.rows]  # every name whole, wrapped or not
    assert_fits(text, width, [units.count(r.totals.params), units.count(r.totals.macs), f"{r.totals.macs:,}"])
    if len(titles) < len(report.COLUMNS):
        assert "--wide" in text, "left-out columns are named, with the way to get them"


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", ZOO)
def test_analyze_variants_fit(name, width):
    r = analysis(name)
    from groupcost.run.roofline import device

    assert_fits(render(report.to_table(r.at_depth(1), traffic=True, device=device("a100")), width), width, [units.count(r.totals.macs)])
    b = r.by_type()
    assert_fits(render(report.types_table(b), width), width, [units.percent(t.shares["macs"]) for t in b.rows])


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", ZOO)
def test_compare_fits(name, width):
    c = groupcost.compare(name, groups=[2, 4, 8, 32])
    assert_fits(render(compare.to_table(c), width), width)


@functools.cache
def whatif_of(name: str):
    doc = groupcost.load_document(name)
    if doc.variables:
        var = next(iter(doc.variables))
        value = network(name).variables[var]
        return groupcost.whatif(doc, {var: [value]})
    first = next(r.name for r in analysis(name).rows if r.type in ("conv", "pwconv"))
    return groupcost.whatif(doc, layer=first, groups=[1, 2])


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", ZOO)
def test_whatif_fits(name, width):
    assert_fits(render(sweep.to_table(whatif_of(name)), width), width)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", ZOO)
def test_verify_check_and_diff_fit(name, width):
    """verify's table over every zoo model's layers (counts as the analysis has them: the layout is under test), check and diff."""
    from groupcost.graph.analysis import step_row
    from groupcost.api import VerifyResult
    from groupcost.run.execute import StepCheck, Verification

    net = network(name)
    checks = []
    for step in net.steps():
        row = step_row(step, 1)
        checks.append(StepCheck(step.name, step.type_name, (1, *step.out_shape), (1, *step.out_shape), row.macs, row.macs, row.params, row.params, 0.0123))
    result = VerifyResult(Verification(net.name, 1, "float32", 0, tuple(checks), 1.0, True))
    text = render(verify.to_table(result), width)
    assert_fits(text, width, [f"{c.expected_macs:,}" for c in checks if c.expected_macs][:3])
    assert first_column(text, 3) == [c.name for c in checks]
    assert_fits(render(guard.check_table(groupcost.check([name], {"params": "1M", "macs": "100G"}, warn_at=0.5)), width), width)
    other = ZOO[(ZOO.index(name) + 1) % len(ZOO)]
    assert_fits(render(guard.diff_table(groupcost.diff(name, other)), width), width)


@pytest.mark.parametrize("width", WIDTHS)
def test_layer_and_zoo_fit(width):
    sweep_ = groupcost.layer((64, 56, 56), 128, k=3, p=1, groups=[1, 2, 3, 4, 8, 32, "dw"])
    assert_fits(render(variants.to_table(sweep_), width), width, ["231.21 M", "2.58 MiB"])
    entries = [(n, network(n), analysis(n)) for n in ZOO]
    assert_fits(render(catalog.zoo_table(entries), width), width, [units.count(analysis(n).totals.macs) for n in ZOO])
    assert_fits(render(catalog.layer_types_table(groupcost.layer_types()), width), width)


# ---- at 80 columns, the columns that answer the question stay ------------------------------------


def test_analyze_keeps_groups_before_mac_share_at_80():
    """G is the tool's subject: ResNeXt-50's grouped convolutions show G=32 at 80 columns; % MACs goes first."""
    text = render(report.to_table(analysis("resnext50_32x4d")), 80)
    titles = header_titles(text)
    assert "G" in titles and "% MACs" not in titles
    assert "% MACs" in text.split("not shown at 80 columns:")[1]
    g_column = titles.index("G")
    rows = [line.split("│")[1:-1] for line in text.splitlines() if "layer1.0.conv2 " in line]
    assert rows and rows[0][g_column].strip() == "32"  # torchvision's resnext50_32x4d: groups=32 in every 3×3


def test_compare_keeps_the_not_legal_marker_at_80():
    """G=3 cannot divide 64 channels: the row says so in a column that is never left out."""
    c = groupcost.compare("resnet18", groups=[3], layers="layer1.0.conv1")
    text = render(compare.to_table(c), 80)
    assert "output" not in header_titles(text)  # the narrow layout is the one under test
    (row,) = [line for line in text.splitlines() if line.startswith("│") and "│ G=3 " in line]
    assert "not legal ¹" in row
    assert "¹ G=3:" in text


def test_whatif_keeps_traffic_and_latency_changes_at_80():
    """ShuffleNet V2's guideline G2: at fixed FLOPs traffic and latency grow with G; those columns survive 80 columns."""
    from groupcost.run.roofline import device

    result = groupcost.whatif("shufflenet_v2_table2", {"G": [1, 2, 4, 8]}, device=device("gtx1080ti"))
    text = render(sweep.to_table(result), 80)
    titles = header_titles(text)
    assert {"traffic", "latency", "Δtraffic", "Δlatency"} <= set(titles)
    assert "ΔMACs" not in titles and "Δparams" not in titles
    assert_fits(text, 80)


def test_measure_table_keeps_names_whole_and_follows_depth():
    """analyze --measure at 80 columns: resnet50's longest names whole (rich cut them to `layer1.0.con…`); with --depth 1
    one row per block, its measured time the sum of its layers' (made-up timings: the layout and the sums are under test)."""
    from groupcost.render import measure
    from groupcost.run.measure import Measurement, Session, Setup, Timing
    from groupcost.run.roofline import device

    r = analysis("resnet50")
    timings = {row.name: 1e-3 for row in r.rows if row.type != "add"}  # 1 ms a layer; merges are not timed one by one
    session = Session(Setup("cpu", "test", 1, 3, 0, "x"), (Measurement(r.model, Timing((0.1, 0.2, 0.3)), timings),))
    text = render(measure.layer_table(r, session, device("a100")), 80)
    assert_fits(text, 80)
    assert first_column(text, header_titles(text).index("measured")) == [row.name for row in r.rows]
    blocks = render(measure.layer_table(r, session, device("a100"), depth=1), 80)
    rows = {cells[0].strip(): cells for cells in (line.split("│")[1:-1] for line in blocks.splitlines() if line.startswith("│ "))}
    layer1_size = sum(1 for row in r.rows if row.name.startswith("layer1.") and row.type != "add")  # a block: its layers' sum
    assert "layer1.0.conv1" not in rows and rows["layer1"][header_titles(blocks).index("measured")].strip() == f"{layer1_size:.3g} ms"


UNIT_AT_LINE_START = re.compile(r"^(?:[KMGTP]i?B|B|[KMGTP]|s|ms|µs|ns|TFLOP/s|GB/s|elements)(?:\s|$|[,;)·])")


def assert_units_kept(text: str) -> None:
    lines = text.splitlines()
    for before, after in itertools.pairwise(lines):
        split = re.search(r"\d$", before.rstrip()) and UNIT_AT_LINE_START.match(after.lstrip())
        assert not split, f"a number and its unit split across lines: {before!r} / {after!r}"


@pytest.mark.parametrize("width", range(60, 125))
def test_numbers_keep_their_units_on_their_line(width):
    """The footer of README's first example broke `563` / `MiB` at 120 columns; at no width does a unit start a line."""
    from groupcost.run.roofline import device

    blocks = [report.to_table(analysis("resnext50_32x4d").at_depth(1), device=device("a100")),
              sweep.to_table(groupcost.whatif("shufflenet_v2_table2", {"G": [1, 8]}, device=device("gtx1080ti")))]
    for table in blocks:
        assert_units_kept(render(table, width))  # rich
        assert_units_kept(table.plain(width))  # a pipe


def test_wrap_keeps_every_unit_with_its_number():
    text = "peak memory 9.19 MiB · training step 563 MiB · 90.6 µs on a100 (312 TFLOP/s, 2039 GB/s) · 8.46 G · 47 elements"
    for width in range(12, len(text)):
        lines = units.wrap(text, width)
        assert " ".join(lines) == text
        assert_units_kept("\n".join(lines))


# ---- the real command, in a pseudo-terminal and through a pipe ---------------------------------

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def run_piped(*args: str, env: dict[str, str]) -> str:
    base = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "NO_COLOR")}
    done = subprocess.run([sys.executable, "-m", "groupcost", *args], capture_output=True, text=True, env={**base, **env})
    return done.stdout


def run_in_terminal(*args: str, columns: int, env: dict[str, str] | None = None) -> str:
    """The command with a pseudo-terminal of `columns` columns as its stdout (COLUMNS unset: the size comes from the terminal)."""
    pty = pytest.importorskip("pty")
    import fcntl
    import struct
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    base = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR")}
    child = subprocess.Popen([sys.executable, "-m", "groupcost", *args], stdout=follower, stderr=subprocess.DEVNULL, env={**base, "TERM": "xterm-256color", **(env or {})})
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    child.wait()
    os.close(leader)
    return b"".join(chunks).decode("utf-8").replace("\r\n", "\n")


@pytest.mark.parametrize("columns", [80, 100])
def test_pseudo_terminal_width(columns):
    out = run_in_terminal("analyze", "resnet18", "--device", "a100", columns=columns)
    text = ANSI.sub("", out)
    assert_fits(text, columns, ["1.81 G", "est. latency"])
    params_column = header_titles(text).index("params")
    names = first_column(text, params_column)
    assert "layer4.0.bn2" in names and max(map(len, names)) >= 19  # the longest names whole


def test_piped_output_honours_columns_and_defaults_to_120():
    for columns in (80, 100, 200):
        out = run_piped("compare", "resnet18", "--layers", "layer2.*", env={"COLUMNS": str(columns)})
        assert_fits(out, columns)
        assert "\x1b[" not in out
    default = run_piped("analyze", "resnet50", env={})
    assert_fits(default, 120)  # a pipe without COLUMNS: 120
    assert "not shown at 120 columns" in default or max(cell_len(line) for line in default.splitlines()) > 100


def test_no_color_and_wide():
    colored = run_in_terminal("check", "resnet18", "--max-params", "1M", columns=100)
    assert "\x1b[31m" in colored  # over budget: red
    plain = run_in_terminal("check", "resnet18", "--max-params", "1M", columns=100, env={"NO_COLOR": "1"})
    assert not re.search(r"\x1b\[(3[0-9]|9[0-7]|38;)", plain), "NO_COLOR: no colour codes"
    wide = run_piped("analyze", "resnet18", "--wide", env={"COLUMNS": "80"})
    assert "--wide shows" not in wide and "input" in wide.splitlines()[2]
