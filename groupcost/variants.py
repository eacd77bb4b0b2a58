"""Variants of one convolution: the same layer at several group counts (and depthwise).

Pure functions over shapes, used by `groupcost layer`.
"""

from __future__ import annotations

from dataclasses import dataclass

from groupcost.analysis import Row, step_row
from groupcost.errors import Location
from groupcost.layers import LayerError, Shape
from groupcost.layers.conv import Conv, legal_groups, nearest
from groupcost.network import LayerStep

DEPTHWISE = "dw"


@dataclass(frozen=True)
class GroupVariant:
    """The convolution at one G: its row, or why that G is not legal here."""

    label: str  # "4" or "dw"
    groups: int
    row: Row | None
    reason: str | None = None
    nearest_legal: tuple[int, ...] = ()


@dataclass(frozen=True)
class ConvQuestion:
    """One convolution as asked on the command line: input C×H×W and the conv's arguments."""

    in_shape: Shape
    out: int
    k: tuple[int, int]
    s: tuple[int, int] = (1, 1)
    p: tuple[int, int, int, int] | str = (0, 0, 0, 0)
    d: tuple[int, int] = (1, 1)
    bias: bool = False

    def at(self, groups: int) -> Conv:
        return Conv(out=self.out, k=self.k, s=self.s, p=self.p, d=self.d, groups=groups, bias=self.bias)


@dataclass(frozen=True)
class GroupSweep:
    question: ConvQuestion
    baseline: Row  # G = 1, what every ratio is taken against
    variants: tuple[GroupVariant, ...]


def sweep_groups(question: ConvQuestion, choices: list[int | str]) -> GroupSweep:
    """Each G in `choices` (an int or 'dw' for G = C_in), evaluated with the conv's own checks.

    Raises LayerError when the convolution is impossible whatever G is (e.g. kernel too large).
    """
    standard = question.at(1)
    baseline = step_row(LayerStep("G=1", standard, question.in_shape, standard.out_shape(question.in_shape), Location("<layer>")), batch=1)
    c_in = question.in_shape[0]
    variants = []
    for choice in choices:
        groups = c_in if choice == DEPTHWISE else int(choice)
        conv = question.at(groups)
        try:
            out_shape = conv.out_shape(question.in_shape)
        except LayerError as exc:
            legal = legal_groups(c_in, question.out) if exc.arg == "groups" else []
            variants.append(GroupVariant(str(choice), groups, None, exc.message, tuple(nearest(legal, groups))))
            continue
        step = LayerStep(f"G={choice}", conv, question.in_shape, out_shape, Location("<layer>"))
        variants.append(GroupVariant(str(choice), groups, step_row(step, batch=1)))
    return GroupSweep(question, baseline, tuple(variants))
