"""Matmul MACs (attention's products of two activations) in every output that shows MACs: a column and a
total line where a network has any, always in JSON and CSV, budgets, diff rules and verify. The figures
are BRIEF.md's: Q·Kᵀ over N tokens of dimension d costs N·N·d per head, and A·V the same."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

SPEC = Path(__file__).parents[2] / "specs" / "mobilevit_block.yaml"  # two attention layers, 4 heads of 36, 32×32 tokens
TOKENS, HEADS, HEAD_DIM, LAYERS = 32 * 32, 4, 144 // 4, 2
PER_LAYER = 2 * HEADS * TOKENS * TOKENS * HEAD_DIM  # Q·Kᵀ and A·V
RULE = "MACs count conv + linear; matmul MACs (attention's products of two activations) are reported apart"


def words(text: str) -> str:
    return " ".join(text.split())


def test_table_has_a_column_and_a_total_line(cli):
    out = cli("analyze", SPEC, "--wide").stdout
    header = next(line for line in out.splitlines() if "layer" in line and "MACs" in line)
    assert "matmul MACs" in header and header.index("% MACs") < header.index("matmul MACs")
    assert f"matmul MACs {LAYERS * PER_LAYER:,}" in out
    assert RULE in words(out)


def test_json_and_csv_carry_the_field(cli):
    document = json.loads(cli("analyze", SPEC, "-f", "json").stdout)
    assert document["totals"]["matmul_macs"] == LAYERS * PER_LAYER
    assert {layer["name"]: layer["matmul_macs"] for layer in document["layers"] if layer["matmul_macs"]} == {
        "transformer.0.attn": PER_LAYER, "transformer.1.attn": PER_LAYER}
    assert document["convention"]["matmul_macs"].startswith(RULE)
    rows = list(csv.DictReader(io.StringIO(cli("analyze", SPEC, "-f", "csv").stdout)))
    assert rows[-1]["name"] == "total" and int(rows[-1]["matmul_macs"]) == LAYERS * PER_LAYER
    plain = json.loads(cli("analyze", "resnet18", "-f", "json").stdout)
    assert plain["totals"]["matmul_macs"] == 0 and all(layer["matmul_macs"] == 0 for layer in plain["layers"])


def test_by_type_markdown_and_zoo_free_outputs(cli):
    by_type = cli("analyze", SPEC, "--by", "type", "-f", "markdown").stdout
    assert "matmul MACs" in by_type and f"{LAYERS * PER_LAYER:,}".replace(",", "") not in by_type  # human units in tables
    attention_row = next(line for line in by_type.splitlines() if line.startswith("| attention"))
    assert "| 603.98 M | 100.00% |" in attention_row  # every matmul MAC of this network is attention's
    assert "matmul" not in cli("analyze", "resnet18", "-f", "markdown").stdout.split("\n\n")[1]  # no column without them


def test_budget_and_flag_on_matmul_macs(cli, tmp_path):
    spec = tmp_path / "budgeted.yaml"
    spec.write_text(SPEC.read_text(encoding="utf-8") + "budgets:\n  matmul_macs: 600M\n", encoding="utf-8")
    over = cli("check", spec)
    assert over.exit_code == 1 and "matmul" in over.stdout
    assert cli("check", spec, "--max-matmul-macs", "1G").exit_code == 0
    assert cli("check", spec, "--max-matmul-macs", f"{LAYERS * PER_LAYER}").exit_code == 0
    assert cli("check", spec, "--max-matmul-macs", f"{LAYERS * PER_LAYER - 1}").exit_code == 1


def test_diff_shows_and_rules_on_matmul_macs(cli, tmp_path):
    one = tmp_path / "one_layer.yaml"
    one.write_text(SPEC.read_text(encoding="utf-8").replace("depth: 2 ", "depth: 1 "), encoding="utf-8")
    result = cli("diff", one, SPEC, "--fail-on-increase", "matmul_macs>0", "-f", "markdown")
    assert result.exit_code == 1, result.stdout
    assert "| matmul_macs |" in result.stdout and "Δ matmul MACs" in result.stdout and RULE in result.stdout
    document = json.loads(cli("diff", one, SPEC, "-f", "json").stdout)
    assert document["totals"]["matmul_macs"] == {"base": PER_LAYER, "head": LAYERS * PER_LAYER, "delta": PER_LAYER}
    plain = cli("diff", "resnet18", "resnet50", "-f", "markdown").stdout
    assert "matmul_macs |" not in plain and "Δ matmul MACs" not in plain


def test_verify_counts_them_apart(cli):
    result = cli("verify", SPEC, "-f", "json")
    assert result.exit_code == 0, result.stdout
    layers = {layer["name"]: layer for layer in json.loads(result.stdout)["layers"]}
    assert layers["transformer.0.attn"]["counted_matmul_macs"] == layers["transformer.0.attn"]["expected_matmul_macs"] == PER_LAYER
    table = cli("verify", SPEC, "--wide").stdout
    assert "matmul MACs (performed)" in table and f"every matmul MAC count ({LAYERS * PER_LAYER:,} in all)" in words(table)


def test_whatif_and_compare_say_them(cli):
    sweep = cli("whatif", SPEC, "--vary", "depth=1,2", "-f", "markdown").stdout
    assert "matmul MACs" in sweep and RULE in words(sweep)
    compared = cli("compare", SPEC, "--g", "2", "-f", "markdown").stdout
    assert f"matmul MACs {LAYERS * PER_LAYER:,} in every network above" in compared


def test_html_report_has_the_column_a_chart_and_the_convention(cli, tmp_path):
    page = tmp_path / "page.html"
    assert cli("report", SPEC, "-o", page).exit_code == 0
    text = page.read_text(encoding="utf-8")
    assert "matmul MACs per stage" in text and '"matmul MACs"' in text  # the chart, and the table's column header
    assert "reported apart" in text
    plain = tmp_path / "plain.html"
    assert cli("report", "resnet18", "-o", plain).exit_code == 0
    assert "matmul MACs per stage" not in plain.read_text(encoding="utf-8")
