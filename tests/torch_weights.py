"""Torch modules, written here from the papers, whose kernels are computed before the conv reads them.

- Scaled weight standardisation (Brock et al., "Characterizing signal propagation to close the
  performance gap in unnormalized ResNets", arXiv 2101.08692, eq. 2 with a learned gain): each output
  channel's weights less their mean, over their standard deviation times sqrt(fan-in), times a learned
  gain. Written with `F.batch_norm` of the weight viewed 1×C_out×fan-in in training mode, the one call
  that computes the per-row statistics; PyTorch counts weight, gain and bias.
- Weight standardisation without a gain (Kolesnikov et al., BiT, arXiv 1912.11370), the same call with no scale.
- Anti-aliased downsampling (Zhang, "Making convolutional networks shift-invariant again", arXiv
  1904.11486; TResNet, arXiv 2003.13630): reflect padding, then a fixed binomial [1, 2, 1]⊗[1, 2, 1]/16
  filter per channel (a buffer) with stride 2. PyTorch counts no parameter for it; FlopCounterMode counts
  its conv's multiply-accumulates.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class StandardisedConv(nn.Conv2d):
    """A conv whose weight is standardised per output channel in forward; with `gain`, times a learned gain
    per output channel and 1/sqrt(fan-in)."""

    def __init__(self, *args, gain: bool = True, eps: float = 1e-5, **kwargs):
        super().__init__(*args, **kwargs)
        self.eps = eps
        self.fan_in_scale = self.weight[0].numel() ** -0.5
        self.gain = nn.Parameter(0.5 + torch.rand(self.out_channels, 1, 1, 1)) if gain else None  # a trained gain differs per channel

    def forward(self, x):
        scale = None if self.gain is None else self.gain.reshape(-1) * self.fan_in_scale
        w = F.batch_norm(self.weight.reshape(1, self.out_channels, -1), None, None, weight=scale, training=True, momentum=0.0, eps=self.eps)
        return F.conv2d(x, w.reshape_as(self.weight), self.bias, self.stride, self.padding, self.dilation, self.groups)


class NormFreeBlock(nn.Module):
    """A normaliser-free bottleneck: 1×1, grouped 3×3 and 1×1 standardised convs, a residual add."""

    def __init__(self, width: int):
        super().__init__()
        self.conv1 = StandardisedConv(width, width // 2, 1)
        self.conv2 = StandardisedConv(width // 2, width // 2, 3, padding=1, groups=2)
        self.conv3 = StandardisedConv(width // 2, width, 1, bias=False)
        self.act = nn.ReLU()

    def forward(self, x):
        return x + self.conv3(self.act(self.conv2(self.act(self.conv1(x)))))


class NormFree(nn.Module):
    """A stem of a standardised conv with a gain, a normaliser-free block, and a plain standardised conv (no gain)."""

    def __init__(self, width: int = 8):
        super().__init__()
        self.stem = StandardisedConv(3, width, 3, stride=2, padding=1)
        self.act = nn.ReLU()
        self.block = NormFreeBlock(width)
        self.head = StandardisedConv(width, 2 * width, 3, gain=False, eps=1e-6)

    def forward(self, x):
        return self.head(self.block(self.act(self.stem(x))))


class BinomialBlur(nn.Module):
    """A fixed binomial filter per channel (a buffer), reflect-padded, with stride 2."""

    def __init__(self, channels: int):
        super().__init__()
        taps = torch.tensor([1.0, 2.0, 1.0])
        self.register_buffer("filt", (taps[:, None] * taps[None, :] / taps.sum() ** 2).expand(channels, 1, 3, 3).clone())

    def forward(self, x):
        return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), self.filt, stride=2, groups=x.shape[1])


class BlurDownsample(nn.Module):
    """TResNet's downsampling: a 3×3 conv, then the blur in its place of a stride."""

    def __init__(self, width: int = 4):
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3, padding=1)
        self.act = nn.ReLU()
        self.aa = BinomialBlur(width)
        self.conv2 = nn.Conv2d(width, 2 * width, 1)

    def forward(self, x):
        return self.conv2(self.aa(self.act(self.conv(x))))


class Sobel(nn.Module):
    """A depthwise conv over a buffer that is no binomial filter (a Sobel kernel)."""

    def __init__(self, channels: int):
        super().__init__()
        sobel = torch.tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])
        self.register_buffer("kernel", sobel.expand(channels, 1, 3, 3).clone())

    def forward(self, x):
        return F.conv2d(x, self.kernel, padding=1, groups=x.shape[1])


class FixedEdges(nn.Module):
    """A conv, then Sobel edges: the buffer is still refused."""

    def __init__(self, width: int = 4):
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3, padding=1)
        self.edges = Sobel(width)

    def forward(self, x):
        return self.edges(self.conv(x))


class SobelInForward(nn.Module):
    """Image gradients by a Sobel kernel built in the forward (kornia's spatial gradient): a constant of the trace,
    which torch.export's optimiser writes as an initializer of its own (`unsqueeze`), then a conv."""

    def __init__(self, width: int = 4):
        super().__init__()
        self.conv = nn.Conv2d(2, width, 3, padding=1)

    def forward(self, x):
        sobel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
        gradients = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), torch.stack([sobel, sobel.t()])[:, None])
        return self.conv(gradients)


class OwnBlur(nn.Module):
    """A box blur held as a buffer by the model itself (`k`, no module path), then a conv."""

    def __init__(self, width: int = 4):
        super().__init__()
        self.register_buffer("k", torch.full((1, 1, 5, 5), 1 / 25))
        self.conv = nn.Conv2d(1, width, 3, padding=1)

    def forward(self, x):
        return self.conv(F.conv2d(x, self.k, padding=2))


FIXED = {"sobel_edges": (FixedEdges, (3, 8, 8)), "sobel_in_forward": (SobelInForward, (1, 8, 8)), "own_blur": (OwnBlur, (1, 8, 8))}
"""Kernels that hold no parameter and are no binomial filter: kind → (module class, input shape C, H, W)."""


def fixed(kind: str) -> nn.Module:
    """The fixed-kernel model, seeded, in eval mode."""
    torch.manual_seed(0)
    return FIXED[kind][0]().eval()


class UninitialisedScores(nn.Module):
    """Attention scores as diffusers' plain attention processor computes them: baddbmm of an uninitialised tensor
    (torch.empty, times β = 0) and q·kᵀ. torch.export writes the empty tensor as an initializer (`empty`, L × L)."""

    def __init__(self, width: int = 8):
        super().__init__()
        self.conv, self.q, self.k, self.v = nn.Conv2d(3, width, 1), nn.Linear(width, width), nn.Linear(width, width), nn.Linear(width, width)

    def forward(self, x):
        tokens = self.conv(x).flatten(2).transpose(1, 2)
        q, k, v = self.q(tokens), self.k(tokens), self.v(tokens)
        empty = torch.empty(q.shape[0], q.shape[1], k.shape[1], dtype=q.dtype)
        scores = torch.baddbmm(empty, q, k.transpose(-1, -2), beta=0, alpha=q.shape[-1] ** -0.5)
        return torch.bmm(scores.softmax(-1), v)


def uninitialised_scores() -> nn.Module:
    torch.manual_seed(0)
    return UninitialisedScores().eval()


PATTERNS = {
    "scaled_standardisation": (NormFree, (3, 12, 12)),
    "binomial_blur": (BlurDownsample, (3, 8, 8)),
}
"""kind → (module class, input shape C, H, W)."""


def pattern(kind: str = "scaled_standardisation") -> nn.Module:
    """The pattern's module, seeded, in eval mode."""
    torch.manual_seed(0)
    return PATTERNS[kind][0]().eval()
