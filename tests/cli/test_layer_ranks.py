"""`groupcost layer` beyond 2-D: a C,L input is torch's Conv1d, a C,T,H,W input its Conv3d, kernels per dimension."""

from __future__ import annotations

import json
import math

import pytest

torch = pytest.importorskip("torch")

CASES = [
    # (input C,L / C,T,H,W, --out, -k, -s, -p, -d; torch's own arguments)
    ("64,100", 128, "3", "1", "1", "1", {"kernel_size": 3, "stride": 1, "padding": 1, "dilation": 1}),
    ("16,100", 32, "5", "2", "2", "2", {"kernel_size": 5, "stride": 2, "padding": 2, "dilation": 2}),
    ("16,8,28,28", 32, "3,5,5", "1,2,2", "1,2,2", "1", {"kernel_size": (3, 5, 5), "stride": (1, 2, 2), "padding": (1, 2, 2), "dilation": 1}),
    ("8,4,16,16", 16, "3", "2", "1", "1,2,2", {"kernel_size": 3, "stride": 2, "padding": 1, "dilation": (1, 2, 2)}),
]


def torch_counts(shape: tuple[int, ...], out: int, groups: int, arguments: dict) -> tuple[tuple[int, ...], int, int]:
    """(output C×spatial, params, MACs) of torch's Conv1d/Conv3d: MACs = weights × output positions."""
    conv_type = {2: torch.nn.Conv1d, 4: torch.nn.Conv3d}[len(shape)]
    conv = conv_type(shape[0], out, groups=groups, bias=False, **arguments)
    y = conv(torch.zeros(1, *shape))
    params = sum(p.numel() for p in conv.parameters())
    return tuple(y.shape[1:]), params, conv.weight.numel() * math.prod(y.shape[2:])


@pytest.mark.parametrize(("shape", "out", "k", "s", "p", "d", "arguments"), CASES)
def test_layer_in_1d_and_3d_counts_as_torch(cli, shape, out, k, s, p, d, arguments):
    result = cli("layer", shape, "--out", str(out), "-k", k, "-s", s, "-p", p, "-d", d, "--g", "1,2,4,dw", "--format", "json")
    assert result.exit_code == 0, result.stderr
    variants = {v["g"]: v for v in json.loads(result.stdout)["variants"]}
    dims = tuple(int(n) for n in shape.split(","))
    for label, groups in (("1", 1), ("2", 2), ("4", 4), ("dw", dims[0])):
        if out % groups:
            continue
        out_shape, params, macs = torch_counts(dims, out, groups, arguments)
        assert (tuple(variants[label]["out_shape"]), variants[label]["params"], variants[label]["macs"]) == (out_shape, params, macs), label


def test_layer_in_1d_table_states_its_formula(cli):
    result = cli("layer", "64,100", "--out", "128", "-p", "1")
    assert result.exit_code == 0, result.stderr
    assert "conv 64×100 → 128, k=3" in result.stdout and "C_out·(C_in/G)·K·L_out" in result.stdout
