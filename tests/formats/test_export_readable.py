"""The structured PyTorch export reads as code a person keeps (issue 21's list of what read as machine
output): no numbering counters (`k1 = 0`), no `shape = shape`, no `self._modules['2']`, the model
before the helpers, and no line of the network's classes or build()'s signature past 100 columns but a docstring."""

from __future__ import annotations

import re

import pytest

import groupcost
from groupcost.formats.torch import export as pytorch_export

RAISED = [name for name in groupcost.zoo_names() if pytorch_export.export_pytorch(groupcost.load_document(name))[1] is None]


def test_most_of_the_zoo_is_raised():
    assert {"resnet50", "mobilenet_v3_large", "efficientnet_v2_s", "shufflenet_v2_x1_0", "xception", "regnet_y_800mf"} <= set(RAISED)


@pytest.mark.parametrize("name", RAISED)
def test_structured_export_reads_as_code(name):
    source, _ = pytorch_export.export_pytorch(groupcost.load_document(name))
    assert not re.search(r"^\s*k\d+ = ", source, re.MULTILINE), "a numbering counter"
    assert not re.search(r"^\s*(\w+) = \1$", source, re.MULTILINE), "an assignment to itself"
    assert "self._modules[" not in source
    first_class = source.index("\nclass ")
    assert "\ndef _" not in source[:first_class] and "\ndef build(" in source[first_class:]
    build = source.index("\ndef build(")
    assert "# Helpers" not in source or build < source.index("# Helpers")
    model_part = source[first_class:source.index("-> nn.Module:", build)]  # the classes and build()'s signature
    long = [line for line in model_part.splitlines() if len(line) > 100 and not line.strip().startswith('"""')]
    assert not long, long[0]
