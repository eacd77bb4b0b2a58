"""docs/spec.md's complete examples (those with input: and layers:) build as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import groupcost

SPEC_MD = (Path(__file__).parents[2] / "docs" / "spec.md").read_text(encoding="utf-8")
EXAMPLES = [block for block in re.findall(r"```yaml\n(.*?)```", SPEC_MD, flags=re.S) if "\ninput:" in "\n" + block and "\nlayers:" in "\n" + block]


def test_there_are_examples():
    assert len(EXAMPLES) >= 2


@pytest.mark.parametrize("text", EXAMPLES, ids=[f"example{i}" for i in range(len(EXAMPLES))])
def test_example_builds(text):
    report = groupcost.analyze(groupcost.language.build(groupcost.parse_text(text, "example.yaml")))
    assert report.totals.params > 0
