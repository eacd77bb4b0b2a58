"""The README's examples run as written, and its sample output is what the program prints."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import groupcost

README = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def test_spec_example_analyzes():
    (spec,) = [block for block in blocks("yaml") if block.startswith("name: tiny")]
    report = groupcost.analyze(groupcost.language.build(groupcost.parse_text(spec, "tiny.yaml")))
    rows = {row.name: row for row in report.rows}
    assert report.output_shape == (10,)
    assert rows["stem"].params == 64 * 3 * 9  # bias: false from `defaults`
    assert "1.shortcut" not in rows and rows["2.shortcut"].out_shape == (128, 16, 16)
    assert rows["3.conv2"].params == 256 * (256 // 4) * 9 and rows["fc"].params == 256 * 10 + 10


def test_budget_example_reads(tmp_path):
    from groupcost.language.budgets import budgets_from_spec
    from groupcost.language.yamlsource import parse_yaml

    (text,) = [block for block in blocks("yaml") if block.startswith("budgets:")]
    budgets = budgets_from_spec(parse_yaml(text, "README.md").value["budgets"])
    assert [(b.metric, b.scope, b.limit) for b in budgets] == [
        ("params", None, 5_000_000), ("macs", None, 600_000_000), ("activation_bytes", None, 64 * 2**20), ("params", "classifier.*", 1_500_000),
    ]


def test_python_examples_run():
    api, lower = [block for block in blocks("python") if "import groupcost" in block]  # (the Hugging Face factory needs transformers)
    exec(api, {})  # noqa: S102
    exec(lower.replace('groupcost.load_document("my_net.yaml")', 'groupcost.load_document("resnext50_32x4d")'), {})  # noqa: S102


def test_sample_outputs_are_current(cli):
    for command in re.findall(r"^\$ groupcost (.+)$", README, flags=re.M):
        shown = README.split(f"$ groupcost {command}\n", 1)[1].split("```", 1)[0]
        result = cli(*shlex.split(command))
        assert result.exit_code == 0
        assert [line.rstrip() for line in result.stdout.splitlines()] == shown.rstrip("\n").splitlines(), command
