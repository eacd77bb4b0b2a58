"""What calibrate measures: the full plan's convolution draws reach the sizes of the zoo's largest layers (counted
from the zoo's specs, whose counts the zoo tests check against torchvision), and operations are timed in order
of the bytes they touch (a chunk's neighbours about as large as each other, as a model's adjacent layers)."""

from __future__ import annotations

import random

import pytest

import groupcost
from groupcost.graph.analysis import analyze, step_row
from groupcost.run import sampling
from groupcost.run.latency import kind_of
from groupcost.run.sampling import Plan, draw, first_draws, footprint

pytest.importorskip("numpy")

ZOO = ("resnet50", "resnext50_32x4d", "xception", "mobilenet_v2", "shufflenet_v1_g3", "regnet_y_800mf", "alexnet")
KINDS = ("conv:standard", "conv:pointwise", "conv:depthwise", "conv:grouped")


@pytest.mark.parametrize("kind", KINDS)
def test_the_full_plans_space_reaches_the_zoos_largest_convolutions(kind):
    """Per kind, the largest weights, MACs and output of the zoo's convolutions lie within the space the full
    calibration draws from (its draws and its wide draws, a thousand and two hundred of them here)."""
    plan = Plan.of(False)
    rows = [row for name in ZOO for row in analyze(groupcost.load(name)).rows if kind_of(row) == kind]
    steps = draw(kind, random.Random(0), 1000, plan.max_macs) + draw(kind, random.Random(0), 200, plan.max_macs, wide=True)
    drawn = [step_row(step, 1) for step in steps]
    assert rows and drawn and plan.conv_wide > 0
    for measure in (lambda r: r.params, lambda r: r.macs, lambda r: r.activations):
        assert max(map(measure, drawn)) >= max(map(measure, rows))


def test_the_wide_draws_add_to_the_first_draws():
    """The wide draws come on top of each convolution kind's first draws, which keep the channels of smaller layers."""
    plan = Plan.of(False)
    rows = [step_row(step, 1) for step in first_draws(plan, random.Random(0))]
    pointwise = [row for row in rows if kind_of(row) == "conv:pointwise"]
    wide = [row for row in pointwise if min(row.in_shapes[0][0], row.out_shape[0]) >= 768]
    assert len(wide) == plan.conv_wide and len(pointwise) == plan.conv_first + plan.conv_wide


def test_operations_are_timed_in_order_of_the_bytes_they_touch(monkeypatch):
    """Every batch of operations collect measures goes to the timer sorted by footprint (the harness's two
    identity networks first, which are not operations)."""
    batches: list[list] = []

    def timed(steps, runs, bench):
        batches.append(list(steps))
        return [(1e-5 * (1 + k % 3), 0.0) for k in range(len(steps))]

    monkeypatch.setattr(sampling, "time_steps", timed)
    plan = Plan(conv_first=6, conv_rounds=1, conv_per_round=4, other=1, runs=1, max_macs=2_000_000, chains=0)
    samples = sampling.collect(plan, bench=None)
    operations = batches[1:]
    assert len(operations) == 2 and samples
    for steps in operations:
        sizes = [footprint(step) for step in steps]
        assert sizes == sorted(sizes) and len(set(sizes)) > 1
    row = step_row(operations[0][-1], 1)
    assert footprint(operations[0][-1]) == 4 * (sum(map(_elements, row.in_shapes)) + row.activations + row.params)


def _elements(shape: tuple[int, ...]) -> int:
    total = 1
    for extent in shape:
        total *= extent
    return total
