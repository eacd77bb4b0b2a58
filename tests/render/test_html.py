"""The HTML report without a browser: what the page holds, its graph data against facts of the
architectures (how many grouped and depthwise convs, residual adds, concatenations), its size and
speed, and the `report` command's files and errors."""

from __future__ import annotations

import fnmatch
import json
import re
import time
from pathlib import Path

import pytest

from groupcost.questions.report import default_variations, overview
from groupcost.render.graph import graph_data
from groupcost.render.html import to_html
from groupcost.run.roofline import device
from groupcost.language import parse_text
from groupcost.sources import load_document

VALID = Path(__file__).parent.parent / "valid"


def page_of(spec: str, **variables) -> tuple[object, str]:
    view = overview(load_document(spec), variables, device("a100"))
    return view, to_html(view)


def data_of(page: str) -> dict:
    found = re.search(r'<script type="application/json" id="graph-data">(.*?)</script>', page, re.S)
    assert found
    return json.loads(found[1])


@pytest.fixture(scope="module")
def resnext():
    return page_of("resnext50_32x4d")


def test_resnext50_page_is_small_and_quick():
    start = time.perf_counter()
    _, page = page_of("resnext50_32x4d")
    seconds = time.perf_counter() - start
    assert len(page.encode()) <= 2_000_000
    assert seconds <= 1.0


def test_page_is_self_contained(resnext):
    _, page = resnext
    assert "<link" not in page and " src=" not in page
    # the only address is the SVG namespace, written by the script
    assert set(re.findall(r"https?://[^\s\"'`)]+", page)) <= {"http://www.w3.org/2000/svg"}
    assert "dagre" in page  # the layout library, inline
    assert page.count("<script") == 4


def test_one_graph_node_per_layer_and_merge(resnext):
    view, page = resnext
    data = data_of(page)
    assert len(data["nodes"]) == len(view.network.nodes) == len(view.report.rows)
    # ResNeXt-50: 16 bottlenecks, each with one residual add whose shortcut edge is drawn as a skip
    assert sum(n["merge"] == "add" for n in data["nodes"]) == 16
    assert sum(kind == "skip" for _, _, kind in data["edges"]) == 16
    # every 3×3 conv of the bottlenecks is grouped (G=32), none is depthwise
    grouped = [n for n in data["nodes"] if n["mark"] == "grouped"]
    assert len(grouped) == 16 and {n["g"] for n in grouped} == {32}
    assert all(n["name"].endswith("conv2") for n in grouped)


def test_blocks_are_the_sums_of_their_layers(resnext):
    view, page = resnext
    data = data_of(page)
    rows = view.report.rows
    for name in ("layer1", "layer3", "layer3.2", "layer4.0.downsample"):
        inside = [r for r in rows if r.name.startswith(name + ".")]
        block = data["blocks"][name]
        assert block["size"] == len(inside)
        assert block["v"] == [sum(r.macs for r in inside), sum(r.params for r in inside), sum(r.traffic for r in inside)]
    assert data["blocks"]["layer2.1"]["parent"] == "layer2" and data["blocks"]["layer2"]["parent"] is None
    assert sum(b["v"][0] for n, b in data["blocks"].items() if "." not in n) + sum(
        r.macs for r in rows if "." not in r.name) == 4_230_479_872


def test_depthwise_and_concat_marks():
    data = data_of(page_of("mobilenet_v2")[1])
    assert sum(n["mark"] == "dw" for n in data["nodes"]) == 17  # one depthwise conv per inverted residual
    dense = data_of(page_of(str(VALID / "densenet121.yaml"))[1])
    concats = [i for i, n in enumerate(dense["nodes"]) if n["merge"] == "concat"]
    assert len(concats) == 6 + 12 + 24 + 16
    assert sum(kind == "concat" for _, _, kind in dense["edges"]) == 2 * len(concats)
    unet = data_of(page_of(str(VALID / "unet.yaml"))[1])
    assert sum(kind == "concat" for _, _, kind in unet["edges"]) == 8
    names = {n["name"] for n in unet["nodes"]}
    # the long skips: each decoder's concatenation reads its encoder's output
    for level in (1, 2, 3, 4):
        target = next(i for i, n in enumerate(unet["nodes"]) if n["name"] == f"cat{level}")
        sources = {unet["nodes"][s]["name"] for s, t, _ in unet["edges"] if t == target}
        assert f"enc{level}.relu2" in sources and sources <= names


def test_folds_to_a_readable_start():
    data = data_of(page_of("resnext50_32x4d")[1])
    # stages open, bottlenecks folded: 4 stem layers, 16 bottlenecks, avgpool, flatten, fc
    assert data["depth"] == 2
    assert len({_visible(n, data) for n in data["nodes"]}) == 23


def _visible(node: dict, data: dict) -> str:
    opened = {b for b in data["blocks"] if b.count(".") + 1 < data["depth"]}
    return next((p for p in node["parents"] if p not in opened), node["name"])


def test_table_has_every_row_totals_and_convention(resnext):
    view, page = resnext
    assert page.count("<tr data-i=") == len(view.report.rows)
    assert "25.03 M" in page and "4.23 G" in page  # the totals row
    assert "multiply-accumulates of conv and linear layers only" in page


def test_whatif_sweeps_the_spec_variables(resnext):
    view, page = resnext
    assert [s.varied for s in view.sweeps] == [("G",), ("width_per_group",)]
    g = view.sweeps[0]
    assert [o.config.variables["G"] for o in g.outcomes] == [1, 2, 4, 8, 16, 32, 64]
    # torchvision's ResNet(Bottleneck, [3, 4, 6, 3], groups=64, width_per_group=4), measured with PyTorch
    assert g.outcomes[-1].report.totals.params == 45_192_488
    assert g.outcomes[-1].report.totals.macs == 7_981_236_224
    assert "what if G changed (now 32)" in page


def test_default_variations_skip_expressions_and_lists():
    doc = parse_text("input: [3, 8, 8]\nvars: {G: 2, alpha: 0.5, w: G * 8, l: [1, 2]}\nlayers: [conv: {out: w, k: 1, groups: G}]\n")
    assert default_variations(doc, {"G": 2, "alpha": 0.5}) == {"G": [1, 2, 4, 8], "alpha": [0.25, 0.375, 0.5, 0.625, 0.75]}


def test_budgets_hold_or_not():
    doc = parse_text(
        "input: [3, 8, 8]\nbudgets: {params: 100, macs: 1K, layers: {big: {params: 1}}}\n"
        "layers: [conv: {name: big, out: 4, k: 3, p: 1, bias: false}]\n"
    )
    page = to_html(overview(doc, {}, device("a100")))
    # 4·3·3·3 = 108 params, over 100 by 8 and over 1 by 107; 108 · 64 = 6,912 MACs, over 1,000
    assert "0 of 3 budgets hold." in page
    assert "over by 8" in page and "over by 107" in page and "over by 5,912" in page


def test_text_is_escaped():
    doc = parse_text('name: "x</script><b>"\ndescription: "<img onerror=1>"\ninput: [3, 8, 8]\nlayers: [relu]\n')
    page = to_html(overview(doc, {}, device("a100")))
    assert "<img" not in page and "x</script><b>" not in page
    assert data_of(page)["model"] == "x</script><b>"


def test_graph_data_names_every_tensor_once():
    view = overview(load_document(VALID / "branches.yaml"), {}, device("a100"))
    data = graph_data(view, lambda row: [])
    names = [n["name"] for n in data["nodes"]]
    assert len(names) == len(set(names))
    readers = sum(len(dict.fromkeys(step.inputs)) for step in view.network.nodes)
    assert len(data["edges"]) == readers
    assert data["outputs"] == [len(names) - 1]


# --- the command ----------------------------------------------------------------------------

def test_report_command_writes_a_page(cli, tmp_path):
    target = tmp_path / "r.html"
    result = cli("report", "resnet50", "-o", target, "--device", "v100", "--vary", "G=1,2")
    assert result.exit_code == 0, result.stderr
    page = target.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "v100" in page and "what if G changed" in page
    assert f"wrote {target}" in result.stderr


def test_report_refuses_to_overwrite(cli, tmp_path):
    target = tmp_path / "r.html"
    target.write_text("mine")
    result = cli("report", "resnet18", "-o", target)
    assert result.exit_code == 2
    assert result.stderr.strip() == f"--output:1:1: error: '{target}' exists (add --force to overwrite it)"
    assert target.read_text() == "mine"
    assert cli("report", "resnet18", "-o", target, "--force").exit_code == 0
    assert target.read_text().startswith("<!DOCTYPE html>")
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]  # no temporary file left


def test_report_output_must_be_a_file_in_a_folder(cli, tmp_path):
    missing = tmp_path / "no" / "r.html"
    result = cli("report", "resnet18", "-o", missing)
    assert result.exit_code == 2
    assert result.stderr.strip() == f"--output:1:1: error: folder '{missing.parent}' does not exist"
    result = cli("report", "resnet18", "-o", tmp_path, "--force")
    assert result.exit_code == 2
    assert result.stderr.strip() == f"--output:1:1: error: '{tmp_path}' is a folder (name the .html file to write)"


def test_report_to_stdout(cli):
    result = cli("report", "resnet18", "-o", "-")
    assert result.exit_code == 0
    assert result.stdout.startswith("<!DOCTYPE html>") and result.stdout.rstrip().endswith("</html>")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["resnet18", "--vary", "nope=1,2"], "--vary:1:1: error: spec 'resnet18' has no variable 'nope'"),
        (["resnet50", "--set", "width_per_group=0"], "--set:1:17: error: width_per_group=0 is not a value resnet50 takes: pwconv out: expected a positive number, got 0 (width_per_group is 64 in the spec)"),
        (["resnet50", "--set", "nope=1"], "--set:1:1: error: spec 'resnet50' has no variable 'nope'"),
        (["no_such_model"], "no_such_model:1:1: error: "),
        (["resnet18", "--device", "toaster"], "--device:1:1: error: unknown device 'toaster'"),
    ],
)
def test_report_bad_input_is_one_located_line(cli, tmp_path, args, message):
    result = cli("report", *args, "-o", tmp_path / "r.html")
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr
    assert not (tmp_path / "r.html").exists()


def test_stage_chart_follows_depth(cli, tmp_path):
    target = tmp_path / "r.html"
    assert cli("report", "resnet18", "-o", target, "--depth", "2").exit_code == 0
    page = target.read_text()
    chart = page[page.index('aria-label="MACs per stage'):]
    chart = chart[: chart.index("</svg>")]
    assert "layer2.1" in chart and fnmatch.fnmatch(chart, "*names cut to 2 segments*")


# ---- the page answers at a glance: the costliest layers, no empty chart rows, the device named ---------------


def test_top_layers_by_cost_lead_with_the_stem():
    """resnet18's costliest layer is its stem: 64·3·7·7 weights at 112×112 = 118,013,952 MACs (torchvision's conv1),
    then the 3×3 convs of 115,605,504 (64·64·9·56·56 and their equals down the stages)."""
    view, page = page_of("resnet18")
    top = page[page.index('<table class="top">'):]
    top = top[: top.index("</table>")]
    names = re.findall(r'<tr data-name="([^"]+)">', top)
    assert len(names) == 10 and names[0] == "conv1"
    assert "118.01 M" in top and "115.61 M" in top
    ranked = sorted(view.report.rows, key=lambda r: (-r.macs, -r.params))
    assert names == [r.name for r in ranked[:10]]


def test_stage_charts_leave_out_stages_with_none(resnext):
    _, page = resnext
    for caption in ("MACs per stage", "params per stage"):
        chart = page[page.index(f'aria-label="{caption}'):]
        chart = chart[: chart.index("</svg>")]
        assert ">0 (0.0%)<" not in chart and "with none left out" in chart
    macs = page[page.index('aria-label="MACs per stage'):]
    assert ">relu<" not in macs[: macs.index("</svg>")]  # torchvision's stem relu: no MACs


def test_the_latency_device_is_named_and_a_default_said_so(cli, tmp_path):
    chosen, default = tmp_path / "chosen.html", tmp_path / "default.html"
    assert cli("report", "resnet18", "-o", chosen, "--device", "a100").exit_code == 0
    assert cli("report", "resnet18", "-o", default).exit_code == 0
    assert "the default device" not in chosen.read_text() and "Latency estimates on a100 (19.5 TFLOP/s, 1555 GB/s), roofline." in chosen.read_text()
    text = default.read_text()
    assert "Latency estimates on a100 (19.5 TFLOP/s, 1555 GB/s), roofline: the default device" in text
    assert "Roofline: a100 (19.5 TFLOP/s, 1555 GB/s), roofline (the default device)" in text


def test_a_folded_block_with_several_outputs_shows_every_shape():
    """torchvision's resnet50 FPN: four 256-channel outputs at strides 4, 8, 16, 32 of a 224 input, from fpn.layer_blocks."""
    _, page = page_of("resnet50_fpn")
    blocks = data_of(page)["blocks"]
    assert blocks["fpn.layer_blocks"]["shapes"] == ["256×56×56", "256×28×28", "256×14×14", "256×7×7"]
    assert blocks["body.layer1"]["shapes"] == ["256×56×56"]  # one tensor leaves a plain stage
