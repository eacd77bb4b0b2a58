"""Every registered layer type reaches the `groupcost layers` catalog and the JSON Schema by itself."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from groupcost.cli.app import app
from groupcost.ops import ALIASES, LAYER_TYPES
from groupcost.language.schema import KIND_SCHEMAS, spec_schema

NEW = ("convtranspose", "upsample", "crop", "pad", "pixelshuffle", "pixelunshuffle", "layernorm", "groupnorm", "instancenorm",
       "layerscale", "gmp", "adaptive_maxpool", "linear")


def test_catalog_lists_every_type():
    result = CliRunner().invoke(app, ["layers"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.stderr
    rows = {line.split("│")[1].strip().split(" ")[0] for line in result.stdout.splitlines() if line.startswith("│") and line.split("│")[1].strip()}
    assert set(NEW) <= set(LAYER_TYPES)
    assert {name for name in LAYER_TYPES if name not in ALIASES} <= rows


def test_schema_defines_every_argument_kind():
    schema = spec_schema()
    for name, layer_type in LAYER_TYPES.items():
        for arg in layer_type.arg_specs():
            assert hasattr(arg.kind, "choices") or arg.kind in KIND_SCHEMAS, f"{name} {arg.name}: {arg.kind.__name__} has no schema"
    entries = json.dumps(schema["definitions"]["entry"])
    for name in NEW:
        assert f'"{name}"' in entries


def test_spec_reference_lists_every_type_and_its_worked_examples_hold():
    """docs/spec.md names every layer type, and each worked example's MACs are the ones groupcost computes."""
    import re
    from pathlib import Path

    import groupcost

    text = (Path(__file__).parents[2] / "docs" / "spec.md").read_text(encoding="utf-8")
    for name in LAYER_TYPES:
        if name not in ALIASES:
            assert f"`{name}`" in text, name
    examples = [block for block in re.findall(r"```yaml\n(.*?)```", text, re.S) if block.startswith("input:")]
    assert len(examples) >= 4
    for block in examples:
        for row in groupcost.analyze(groupcost.language.build(groupcost.parse_text(block, "example.yaml"))).rows:
            if row.macs:
                assert f"{row.macs:,}" in text, (row.name, row.macs)
