"""Results of the Python API show in a notebook as their command's output: Jupyter's `_repr_markdown_` / `_repr_html_`
and rich's `__rich__`, called here directly as Jupyter and rich call them."""

from __future__ import annotations

import html
import io
import re

import pytest
from rich.console import Console

import groupcost

# torchvision's resnet18 (BRIEF.md): 11,689,512 params, 1,814,073,344 MACs
RESNET18_PARAMS, RESNET18_MACS = 11_689_512, 1_814_073_344


def shown_by_rich(result, width: int = 100) -> str:
    out = io.StringIO()
    Console(file=out, width=width, highlight=False, color_system=None).print(result)
    return out.getvalue()


def test_a_report_shows_as_its_table():
    report = groupcost.analyze(groupcost.load("resnet18"))
    markdown = report._repr_markdown_()
    assert markdown.startswith("**resnet18 — input 3×224×224") and "| layer | type |" in markdown
    assert f"params {RESNET18_PARAMS:,}" in markdown and f"MACs {RESNET18_MACS:,}" in markdown
    text = shown_by_rich(report)
    assert "layer4.1.conv2" in text and f"params {RESNET18_PARAMS:,}" in text
    assert "┃ layer" in text  # the table, not the dataclass's repr
    by_type = report.by_type()._repr_markdown_()
    assert "cost by layer type" in by_type and "| standard 3×3 | 16 |" in by_type  # 8 BasicBlocks of two 3×3 convs


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda: groupcost.compare("resnet18", groups=[2], layers="layer1.0.conv1"), "**resnet18: convolution variants**"),
        (lambda: groupcost.whatif("resnext50_32x4d", {"G": [1, 32]}), "| G=32 * | 25.03 M | 4.23 G |"),  # BRIEF.md: 25,028,904; 4,230,479,872
        (lambda: groupcost.layer((64, 56, 56), 128, k=3, p=1, groups=[1, 2]), "| 2 | 128×56×56 | 36.86 K |"),  # 128·32·9 weights
        (lambda: groupcost.check(["resnet18"], {"params": "10M"}), "resnet18"),
        (lambda: groupcost.diff("resnet18", "resnet50"), "resnet50"),
    ],
)
def test_every_command_result_shows_as_its_table(call, expected):
    result = call()
    markdown = result._repr_markdown_()
    assert expected in markdown, markdown[:400]
    assert "|" in markdown and not markdown.startswith(type(result).__name__)
    assert re.search(r"[┃│]", shown_by_rich(result))  # rich draws the command's table


def test_a_verification_shows_as_its_table():
    pytest.importorskip("numpy")
    result = groupcost.verify("shufflenet_v2_table2", input_shape=(16, 8, 8))
    assert "| layer |" in result._repr_markdown_()
    assert re.search(r"[┃│]", shown_by_rich(result))


def test_a_report_shows_as_its_page_in_a_frame():
    from groupcost.render.html import to_html

    overview = groupcost.report("resnet18")
    frame = overview._repr_html_()
    assert frame.startswith("<iframe") and 'sandbox="allow-scripts"' in frame
    page = html.unescape(re.search(r'srcdoc="([^"]*)"', frame).group(1))
    assert page == to_html(overview) and f"{RESNET18_PARAMS:,}" in page
