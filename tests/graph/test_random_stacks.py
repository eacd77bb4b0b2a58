"""Hypothesis builds random stacks of conv, bn, pooling and fc layers twice — as a torch module and
as a groupcost spec — and PyTorch's counts must equal ours: params, MACs and output shape."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from torch import nn  # noqa: E402

import groupcost  # noqa: E402

from torch_reference import torch_counts  # noqa: E402


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def conv_out(size, k, s, p_before, p_after, d):
    return (size + p_before + p_after - d * (k - 1) - 1) // s + 1


@st.composite
def stacks(draw):
    """(spec YAML text, torch module, input shape) for one random stack."""
    c, h, w = draw(st.integers(1, 12)), draw(st.integers(6, 40)), draw(st.integers(6, 40))
    shape = (c, h, w)
    lines = ["input: [%d, %d, %d]" % shape, "layers:"]
    modules: list[nn.Module] = []
    for _ in range(draw(st.integers(1, 6))):
        c, h, w = shape
        kind = draw(st.sampled_from(["conv", "conv", "conv", "bn", "relu", "maxpool", "avgpool"]))
        if kind == "conv":
            kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
            d = draw(st.integers(1, 2))
            pads = [draw(st.integers(0, 3)) for _ in range(4)]  # top, bottom, left, right
            s = draw(st.integers(1, 3))
            if conv_out(h, kh, s, pads[0], pads[1], d) < 1 or conv_out(w, kw, s, pads[2], pads[3], d) < 1:
                continue
            groups = draw(st.sampled_from(divisors(c)))
            out = groups * draw(st.integers(1, 4))
            bias = draw(st.booleans())
            lines.append(f"  - conv: {{out: {out}, k: [{kh}, {kw}], s: {s}, p: {pads}, d: {d}, groups: {groups}, bias: {str(bias).lower()}}}")
            modules += [nn.ZeroPad2d((pads[2], pads[3], pads[0], pads[1])), nn.Conv2d(c, out, (kh, kw), s, 0, d, groups, bias)]
            shape = (out, conv_out(h, kh, s, pads[0], pads[1], d), conv_out(w, kw, s, pads[2], pads[3], d))
        elif kind == "bn":
            lines.append("  - bn")
            modules.append(nn.BatchNorm2d(c))
        elif kind == "relu":
            lines.append("  - relu")
            modules.append(nn.ReLU())
        else:
            k, s = draw(st.integers(1, 3)), draw(st.integers(1, 3))
            p, ceil = draw(st.integers(0, k // 2)), draw(st.booleans())
            if k > min(h, w) + 2 * p:
                continue
            lines.append(f"  - {kind}: {{k: {k}, s: {s}, p: {p}, ceil_mode: {str(ceil).lower()}}}")
            pool = nn.MaxPool2d(k, s, p, ceil_mode=ceil) if kind == "maxpool" else nn.AvgPool2d(k, s, p, ceil_mode=ceil)
            modules.append(pool)
            out_h, out_w = (torch_counts(pool, shape)[2][1:])
            shape = (c, out_h, out_w)
    if draw(st.booleans()):
        out = draw(st.integers(1, 20))
        lines += ["  - flatten", f"  - fc: {{out: {out}, bias: {str(draw(st.booleans())).lower()}}}"]
        modules += [nn.Flatten(), nn.Linear(shape[0] * shape[1] * shape[2], out, bias="bias: true" in lines[-1])]
    return "\n".join(lines) + "\n", nn.Sequential(*modules), tuple(int(v) for v in lines[0][8:-1].split(", "))


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(stacks())
def test_random_stack_matches_pytorch(case):
    text, model, input_shape = case
    net = groupcost.language.build(groupcost.parse_text(text, "random.yaml"))
    report = groupcost.analyze(net)
    assert (report.totals.params, report.totals.macs, report.output_shape) == torch_counts(model, input_shape), text
