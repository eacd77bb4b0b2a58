"""Errors that misled (issue 19): each says what happened, and its hint works."""

from __future__ import annotations

from pathlib import Path

import pytest

from groupcost.errors import SpecError
from groupcost.language import build, parse_text
from groupcost.language.names import TORCH_MODULE_ATTRIBUTES

BAD = Path(__file__).parents[1] / "bad_specs"


def test_a_block_calling_itself_prints_the_ends_of_its_chain(cli):
    path = BAD / "block_recursion.yaml"
    result = cli("analyze", path)
    line = result.stderr.strip()
    assert result.exit_code == 2 and "\n" not in line
    assert line.endswith(f"; in block 'loop' used at {path}:5:14 as 0 (63 times); in block 'loop' used at {path}:7:5 as 0")
    assert len(line) < 160 + 3 * len(str(path))  # was 3,031 characters: the call repeated 64 times


def test_a_long_chain_of_different_calls_keeps_its_ends():
    blocks = "".join(f"  b{k}:\n    layers: [b{k + 1}]\n" for k in range(10)) + "  b10:\n    layers: [conv: {out: 8, k: 9}]\n"
    with pytest.raises(SpecError) as caught:
        build(parse_text(f"input: [8, 4, 4]\nblocks:\n{blocks}layers:\n  - b0\n"))
    assert len(caught.value.context) == 7 and "... 5 more block calls ..." in caught.value.context[3]


def test_the_full_name_the_namespace_hint_gives_is_reachable():
    text = (BAD / "from_other_namespace.yaml").read_text().replace("sum0]", "0.sum0]")
    nodes = {n.name: n for n in build(parse_text(text)).nodes}
    assert nodes["1.1"].inputs == ("1.sum1", "0.sum0")


def test_a_suggestion_is_never_the_name_itself():
    with pytest.raises(SpecError) as caught:
        build(parse_text("input: [8, 8, 8]\nlayers:\n  - relu\n  - add: {from: [0, relux]}\n"))
    assert "did you mean 'relux'" not in str(caught.value)


def test_torch_module_attributes_are_all_refused_as_names():
    torch = pytest.importorskip("torch")
    assert {n for n in dir(torch.nn.Module()) if not n.startswith("__")} <= TORCH_MODULE_ATTRIBUTES
    with pytest.raises(SpecError, match="'train' cannot name a layer"):
        build(parse_text("input: [8, 8, 8]\nvars: {n: train}\nlayers:\n  - relu: {name: '{n}'}\n"))
