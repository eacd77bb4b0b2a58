"""`share:`: an entry whose layers call again the modules of an earlier layer or block.

The k-th layer the entry makes shares the module of the k-th layer of the entry it names: one
set of parameters (counted once, one state_dict key), MACs at every call (RetinaNet's head over
five FPN levels, SPPF's one max pool applied three times).
"""

from __future__ import annotations

from dataclasses import replace

from groupcost.errors import SpecError
from groupcost.graph.check import share_problem
from groupcost.graph.network import LayerStep, Step
from groupcost.language.yamlsource import Node


def share_owners(nodes: list[Step], candidates: list[str], node: Node) -> list[LayerStep]:
    """The layers of the first of `candidates` (full names, innermost namespace first) that names an earlier layer or block."""
    for full in candidates:
        owners = [s for s in nodes if isinstance(s, LayerStep) and (s.name == full or s.name.startswith(full + "."))]
        if owners:
            return owners
    raise SpecError(f"share: {node.value!r} is no earlier layer or block", "name a layer or block above this entry, e.g. share: head_p3", node.loc)


def share_steps(nodes: list[Step], start: int, owners: list[LayerStep], node: Node) -> None:
    """Mark the layer steps from `start` on as calling `owners`' modules, in order; refuse a pair that differs."""
    made = [(i, step) for i, step in enumerate(nodes[start:], start) if isinstance(step, LayerStep)]
    if len(made) != len(owners):
        raise SpecError(f"share: '{node.value}' has {len(owners)} layer{'s' * (len(owners) != 1)} and this entry makes {len(made)}",
                        "share: names an earlier layer or block of the same structure", node.loc)
    for (i, step), owner in zip(made, owners):
        problem = share_problem(owner, step)
        if problem is not None:
            raise SpecError(f"'{step.name}' cannot share the module of '{owner.name}': {problem}",
                            "share: names an earlier layer (or block) of the same type and arguments, whose parameters fit this input", node.loc)
        nodes[i] = replace(step, shares=owner.shares or owner.name)
