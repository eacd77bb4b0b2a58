"""Torch modules written here for three things real models do that a spec must name: modules in
interleaved lists (Res2Net's `convs.j`, `bns.j`), one module called again (a detection head over
every pyramid level), and torch's own nn.MultiheadAttention. Written from the papers' descriptions,
not copied from any library; tests/torch_patterns.py lists them in PATTERNS."""

from __future__ import annotations

import torch
from torch import nn


class InterleavedLists(nn.Module):
    """Res2Net's hierarchical split (Gao et al. 2019, Fig. 2): a 1×1 conv, its channels in `scale`
    groups, each group after the first added to the previous group's output and convolved by
    `convs.j`, activated by `acts.j` (two ModuleLists whose modules run interleaved), the last
    group passed on, all concatenated, a 1×1 conv back and the residual sum."""

    def __init__(self, width: int = 4, scale: int = 4):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width * scale, 1)
        self.convs = nn.ModuleList(nn.Conv2d(width, width, 3, padding=1) for _ in range(scale - 1))
        self.acts = nn.ModuleList(nn.ReLU() for _ in range(scale - 1))
        self.conv3 = nn.Conv2d(width * scale, 3, 1)
        self.width = width

    def forward(self, x):
        parts = torch.split(self.conv1(x), self.width, 1)
        outs = []
        for j, (conv, act) in enumerate(zip(self.convs, self.acts)):
            sp = parts[j] if j == 0 else outs[-1] + parts[j]
            outs.append(act(conv(sp)))
        return self.conv3(torch.cat([*outs, parts[-1]], 1)) + x


class Head(nn.Module):
    """A detection head's tower: 3×3 conv, ReLU, 3×3 conv to the outputs of each position."""

    def __init__(self, width: int, outputs: int):
        super().__init__()
        self.conv = nn.Conv2d(width, width, 3, padding=1)
        self.act = nn.ReLU()
        self.out = nn.Conv2d(width, outputs, 3, padding=1)

    def forward(self, x):
        return self.out(self.act(self.conv(x)))


class SharedHead(nn.Module):
    """RetinaNet's head (Lin et al. 2017, Fig. 3): one head module called on every pyramid level, its
    parameters counted once and its MACs per level; a linear called on two pooled levels; and SPPF's one
    max pool called three times (no parameters to share)."""

    def __init__(self, width: int = 8, outputs: int = 6):
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, stride=2, padding=1)
        self.down = nn.Conv2d(width, width, 3, stride=2, padding=1)
        self.pool = nn.MaxPool2d(5, 1, 2)
        self.head = Head(width, outputs)
        self.fc = nn.Linear(outputs, 4)

    def forward(self, x):
        p3 = self.stem(x)
        p4 = self.down(p3)
        y1 = self.pool(p4)
        p5 = self.pool(self.pool(y1)) + y1
        levels = [self.head(p) for p in (p3, p4, p5)]
        return tuple(self.fc(level.mean((2, 3))) for level in levels[:2]) + (levels[2],)


SHARING_PATTERNS = {
    "interleaved_lists": (InterleavedLists, (3, 8, 8)),
    "shared_head": (SharedHead, (3, 16, 16)),
}
"""kind → (module class, input shape C, H, W), as tests/torch_patterns.py's PATTERNS."""
