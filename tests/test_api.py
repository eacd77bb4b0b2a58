"""The Python API behind every command: each function's to_dict() is the command's JSON, and its errors are GroupcostErrors."""

from __future__ import annotations

import json

import pytest

import groupcost
from groupcost.errors import GroupcostError, UsageError


def test_every_command_has_a_function_whose_to_dict_is_its_json(cli):
    pairs = [
        (groupcost.analyze_spec("mobilefacenet"), ["analyze", "mobilefacenet"]),
        (groupcost.layer((64, 56, 56), 128, k=3, p=1, groups=[1, 3, "dw"]), ["layer", "64,56,56", "--out", "128", "-p", "1", "--g", "1,3,dw"]),
        (groupcost.compare("resnet18", groups=[2, 4], layers="layer1.*"), ["compare", "resnet18", "--g", "2,4", "--layers", "layer1.*"]),
        (groupcost.whatif("resnext50_32x4d", {"G": [1, 32]}), ["whatif", "resnext50_32x4d", "--vary", "G=1,32"]),
        (groupcost.check(["resnet18"], {"params": "5M"}), ["check", "resnet18", "--max-params", "5M"]),
        (groupcost.diff("resnet18", "resnet50", "macs>5%"), ["diff", "resnet18", "resnet50", "--fail-on-increase", "macs>5%"]),
    ]
    for result, argv in pairs:
        assert groupcost.to_dict(result) == json.loads(cli(*argv, "-f", "json").stdout), argv[0]
    verified = groupcost.verify("shufflenet_v2_table2")
    document = json.loads(cli("verify", "shufflenet_v2_table2", "-f", "json").stdout)
    strip = lambda d: {**d, "seconds": 0, "verdict": "", "layers": [{**layer, "seconds": 0} for layer in d["layers"]]}  # noqa: E731
    assert verified.ok and strip(groupcost.to_dict(verified)) == strip(document)


def test_api_errors_are_groupcost_errors():
    with pytest.raises(UsageError):
        groupcost.compare("resnet18", layers="nosuch*")
    with pytest.raises(GroupcostError):
        groupcost.verify("resnet18", seed=-1)
    assert groupcost.check(["nosuch"]).status == "error"

