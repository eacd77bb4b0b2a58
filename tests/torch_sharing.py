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


SHARING_PATTERNS = {
    "interleaved_lists": (InterleavedLists, (3, 8, 8)),
}
"""kind → (module class, input shape C, H, W), as tests/torch_patterns.py's PATTERNS."""
