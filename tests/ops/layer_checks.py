"""One-layer networks checked against PyTorch: output shape, parameters (sum of numel), MACs
(FlopCounterMode total / 2, batched products of activations apart as matmul MACs) and the NumPy kernel's output (to 1e-4 in float32, against the tensor's scale)."""

from __future__ import annotations

import numpy as np
import torch

import groupcost
from groupcost.run.execute import forward, init_weights
from torch_reference import load_weights, network_module, step_outputs, torch_counts_with_matmul


def build(text: str):
    return groupcost.language.build(groupcost.parse_text(text, "case.yaml"))


def spec(shape: tuple[int, ...], *layers: str) -> str:
    return f"input: {list(shape)}\nlayers:\n" + "".join(f"  - {layer}\n" for layer in layers)


def check_against_torch(text: str, seed: int = 0, rtol: float = 1e-4) -> None:
    """Counts and every step's output equal PyTorch's for the network of `text`."""
    net = build(text)
    report = groupcost.analyze(net)
    model = network_module(net)
    params, macs, matmul_macs, out_shape = torch_counts_with_matmul(model, net.input_shape)
    assert (report.totals.params, report.totals.macs, report.totals.matmul_macs, report.output_shape) == (params, macs, matmul_macs, out_shape), text
    weights = init_weights(net, seed, "float32")
    x = np.random.default_rng(seed + 1).standard_normal((2, *net.input_shape)).astype("float32")
    _, ours = forward(net, x, weights, keep_outputs=True)
    load_weights(model, weights)
    theirs = step_outputs(model, torch.from_numpy(x))
    assert set(ours) == set(theirs)
    for name, reference in theirs.items():
        assert ours[name].shape == reference.shape, (name, text)
        scale = float(np.abs(reference).max()) if reference.size else 0.0
        np.testing.assert_allclose(ours[name], reference, rtol=rtol, atol=rtol * scale + 1e-30, err_msg=f"{name} in\n{text}")
