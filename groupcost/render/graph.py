"""The architecture as data for the report's graph: nodes, edges, nested blocks and the fold to start with.

The layout itself is dagre's (vendored in render/page/vendor/, run by the page): a layered layout
of whatever is unfolded, with expanded blocks drawn as clusters. This module only says what
to draw. A node is one layer or merge (one row of the report); a block is a name prefix
(`layer2`, `layer2.0`) that holds two or more rows, foldable into one box.
"""

from __future__ import annotations

from groupcost.graph.analysis import Row
from groupcost.graph.network import INPUT, LayerStep, MergeStep, Network
from groupcost.questions.report import Overview
from groupcost.render import units

FOLDED_NODES = 32
"""Blocks start folded to the deepest level that shows at most this many boxes."""
METRICS = ("macs", "params", "traffic")


def mark(step: LayerStep | MergeStep, groups: int | None) -> str | None:
    """'dw' for a depthwise conv (one group per input channel), 'grouped' for 1 < G < C_in."""
    if isinstance(step, MergeStep) or groups is None or groups <= 1:
        return None
    return "dw" if groups == step.in_shape[0] else "grouped"


def _values(row: Row) -> list[int]:
    return [row.macs, row.params, row.traffic]


def _parents(name: str, blocks: dict[str, Row]) -> list[str]:
    parts = name.split(".")
    return [p for p in (".".join(parts[:k]) for k in range(1, len(parts))) if p in blocks]


def levels(network: Network) -> dict[str, int]:
    """Each tensor's longest path from the input, in nodes (the input is 0)."""
    level = {INPUT: 0}
    for step in network.nodes:
        level[step.name] = 1 + max(level[name] for name in step.inputs)
    return level


def edge_kind(source: str, target: LayerStep | MergeStep, level: dict[str, int]) -> str:
    """How an edge is drawn: 'concat' into a concatenation; 'skip' into an add or mul from an input
    that is fewer layers deep than the merge's deepest (a residual's shortcut, a gate's identity);
    'flow' otherwise."""
    if isinstance(target, MergeStep):
        if target.kind == "concat":
            return "concat"
        if level[source] < max(level[name] for name in target.inputs):
            return "skip"
    return "flow"


def start_depth(overview: Overview) -> int:
    """The deepest fold level whose visible boxes number at most FOLDED_NODES (at least 1)."""
    names = [row.name for row in overview.report.rows]
    best = 1
    for level in range(1, max((n.count(".") for n in names), default=0) + 2):
        visible = {_folded(n, level, overview.blocks) for n in names}
        if len(visible) > FOLDED_NODES:
            break
        best = level
    return best


def _folded(name: str, level: int, blocks: dict[str, Row]) -> str:
    parts = name.split(".")
    for k in range(level, len(parts)):
        prefix = ".".join(parts[:k])
        if prefix in blocks:
            return prefix
    return name


def graph_data(overview: Overview, cells, changes: dict[str, str] | None = None) -> dict:
    """The JSON the page draws from. `cells(row)` gives a row's table cells (for hover on a block).
    `changes`: layer name → added | removed | changed, for the two sides of a diff (drawn marked)."""
    network, report, blocks = overview.network, overview.report, overview.blocks
    index = {step.name: i for i, step in enumerate(network.nodes)}
    level = levels(network)
    nodes = []
    edges = []
    for i, (step, row) in enumerate(zip(network.nodes, report.rows)):
        parents = _parents(step.name, blocks)
        short = step.name[len(parents[-1]) + 1:] if parents else step.name  # the frame around it says the rest
        nodes.append({
            "name": step.name,
            "label": step.merge.sign if isinstance(step, MergeStep) else short,
            "type": row.type,
            "shape": units.shape(row.out_shape),
            "g": row.groups,
            "mark": mark(step, row.groups),
            "merge": step.kind if isinstance(step, MergeStep) else None,
            "parents": parents,
            "v": _values(row),
            **({"change": changes[step.name]} if changes and step.name in changes else {}),
        })
        for source in dict.fromkeys(step.inputs):
            s = -1 if source == INPUT else index[source]
            edges.append([s, i, edge_kind(source, step, level)])
    consumers: dict[str, list[str]] = {}
    for step in network.nodes:
        for source in step.inputs:
            consumers.setdefault(source, []).append(step.name)
    return {
        "model": report.model,
        "input": units.shape(report.input_shape),
        "outputs": [index[name] for name in network.outputs if name in index],
        "nodes": nodes,
        "edges": edges,
        "blocks": {
            name: {
                "parent": (_parents(name, blocks) or [None])[-1],
                "shape": units.shape(row.out_shape),
                "shapes": _leaving(name, network, consumers),
                "size": sum(1 for r in report.rows if r.name.startswith(name + ".")),
                "v": _values(row),
                "cells": cells(row),
            }
            for name, row in blocks.items()
        },
        "totals": [report.totals.macs, report.totals.params, report.totals.traffic],
        "metrics": list(METRICS),
        "depth": start_depth(overview),
    }


def _leaving(block: str, network: Network, consumers: dict[str, list[str]]) -> list[str]:
    """The shapes of the tensors that leave a block (read outside it, or outputs of the network), in order: what its
    folded box shows (an FPN's block of output convolutions has four)."""
    inside = block + "."
    outputs = set(network.outputs)
    return [units.shape(step.out_shape) for step in network.nodes if step.name.startswith(inside)
            and (step.name in outputs or any(not c.startswith(inside) for c in consumers.get(step.name, [])))]
