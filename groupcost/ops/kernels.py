"""Vectorised NumPy building blocks for the layers' `forward` kernels (the verify path only).

Every kernel takes 1-D, 2-D and 3-D tensors alike (N, C, *spatial). No Python loops over pixels or
channels: convolutions are strided window views and one batched matrix multiply over the groups (in
chunks of output rows, to bound memory; 1×1 convolutions need no windows), depthwise convolutions and
pools ΠK shifted operations over the whole tensor, transposed convolutions one matrix multiply and ΠK
shifted additions. Every multiply-accumulate a kernel performs is counted by `MacCounter` from the sizes of the contractions it actually ran.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

CACHE_CHUNK = 1 << 19
"""Columns built per chunk, at most (2 MiB of float32): a chunk that stays in cache while the matmul
reads it ran this machine's largest zoo convolution at 55 % of np.matmul's peak, against 41 % unchunked."""


class MacCounter:
    """Multiply-accumulates performed, counted from operand shapes (never from our formulas).

    `macs` are products with a weight (conv, linear); `matmul_macs` products of two activations
    (attention's Q·Kᵀ and A·V), counted apart as the convention reports them.
    `chunk_elements` bounds the im2col buffers, so that peak memory stays within about twice the
    largest activation plus the weights.
    """

    def __init__(self, chunk_elements: int = 1 << 24) -> None:
        self.macs = 0
        self.matmul_macs = 0
        self.chunk_elements = chunk_elements

    @staticmethod
    def _contractions(a: np.ndarray, b: np.ndarray) -> int:
        """a (..., M, K) @ b (..., K, N): M·K·N multiply-accumulates per (broadcast) batch entry."""
        batch = int(np.prod(np.broadcast_shapes(a.shape[:-2], b.shape[:-2]), dtype=np.int64))
        return batch * a.shape[-2] * a.shape[-1] * b.shape[-1]

    def matmul(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """An activation times a weight: counted in `macs`."""
        self.macs += self._contractions(a, b)
        return np.matmul(a, b)

    def activation_matmul(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """An activation times an activation: counted in `matmul_macs`."""
        self.matmul_macs += self._contractions(a, b)
        return np.matmul(a, b)

    def multiply_add(self, accumulator: np.ndarray, a: np.ndarray, b: np.ndarray, scratch: np.ndarray) -> None:
        """accumulator += a · b element-wise (through `scratch`, no allocation): one multiply-accumulate per element."""
        np.multiply(a, b, out=scratch)
        self.macs += scratch.size
        accumulator += scratch


def _all(n: int) -> tuple[slice, ...]:
    return (slice(None),) * n


def _strided(offsets, stride, out_sizes) -> tuple[slice, ...]:
    """Per spatial dimension, the positions offset, offset + s, ..., one per output position."""
    return tuple(slice(o, o + s * (n - 1) + 1, s) for o, s, n in zip(offsets, stride, out_sizes))


def pad(x: np.ndarray, pads: tuple[int, ...], value: float = 0.0) -> np.ndarray:
    """N, C, *spatial padded by (before, after) per spatial dimension, flattened: (top, bottom, left, right) in 2-D."""
    if not any(pads):
        return x
    return np.pad(x, ((0, 0), (0, 0), *zip(pads[::2], pads[1::2])), constant_values=value)


def windows(x: np.ndarray, kernel: tuple[int, ...], stride: tuple[int, ...], dilation: tuple[int, ...], out_sizes: tuple[int, ...]) -> np.ndarray:
    """A read-only view (N, C, *out_sizes, *kernel) of every window of a padded N, C, *spatial tensor."""
    n, c = x.shape[:2]
    sn, sc, *spatial = x.strides
    return np.lib.stride_tricks.as_strided(
        x,
        shape=(n, c, *out_sizes, *kernel),
        strides=(sn, sc, *(t * s for t, s in zip(spatial, stride)), *(t * d for t, d in zip(spatial, dilation))),
        writeable=False,
    )


def conv(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, stride, pads, dilation, groups: int, out_sizes, counter: MacCounter) -> np.ndarray:
    """Grouped convolution of any rank as W (G, C_out/G, C_g·ΠK) @ columns (N, G, C_g·ΠK, positions), in chunks
    along the first output dimension."""
    n, c_in = x.shape[:2]
    c_out, c_group, *kernel = weight.shape
    rank = len(kernel)
    if groups == c_in and c_group == 1 and any(k != 1 for k in kernel):
        return depthwise(x, weight, bias, stride, pads, dilation, out_sizes, counter)
    taps = math.prod(kernel)
    w = weight.reshape(1, groups, c_out // groups, c_group * taps)
    if taps == 1 and not any(pads):
        picked = x[(*_all(2), *_strided((0,) * rank, stride, out_sizes))]
        columns = np.ascontiguousarray(picked).reshape(n, groups, c_group, math.prod(out_sizes))
        out = counter.matmul(w, columns).reshape(n, c_out, *out_sizes)
    else:
        view = windows(pad(x, pads), tuple(kernel), stride, dilation, out_sizes)
        view = view.transpose(0, 1, *range(2 + rank, 2 + 2 * rank), *range(2, 2 + rank))  # N, C, *K, *O
        out = np.empty((n, c_out, *out_sizes), dtype=x.dtype)
        first, rest = out_sizes[0], math.prod(out_sizes[1:])
        rows = max(1, min(first, min(counter.chunk_elements, CACHE_CHUNK) // max(1, n * c_in * taps * rest)))
        for start in range(0, first, rows):
            part = view[(Ellipsis, slice(start, start + rows), *_all(rank - 1))]
            r = part.shape[2 + rank]
            columns = part.reshape(n, groups, c_group * taps, r * rest)  # the one copy: im2col of this chunk
            out[:, :, start : start + r] = counter.matmul(w, columns).reshape(n, c_out, r, *out_sizes[1:])
    if bias is not None:
        out += bias.reshape(1, -1, *(1,) * rank)
    return out


def depthwise(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, stride, pads, dilation, out_sizes, counter: MacCounter) -> np.ndarray:
    """Depthwise (G = C_in, `mult` filters a channel): ΠK shifted multiply-adds over the whole tensor."""
    n, c_in = x.shape[:2]
    c_out, _, *kernel = weight.shape
    rank = len(kernel)
    mult = c_out // c_in
    xp = pad(x, pads)
    if mult > 1:
        xp = np.repeat(xp, mult, axis=1)  # output channel o reads input channel o // mult, as torch does
    out = np.zeros((n, c_out, *out_sizes), dtype=x.dtype)
    scratch = np.empty_like(out)
    for tap in itertools.product(*(range(k) for k in kernel)):
        shifted = xp[(*_all(2), *_strided([t * d for t, d in zip(tap, dilation)], stride, out_sizes))]
        counter.multiply_add(out, shifted, weight[(slice(None), 0, *tap)].reshape(1, c_out, *(1,) * rank), scratch)
    if bias is not None:
        out += bias.reshape(1, -1, *(1,) * rank)
    return out


def conv_transpose(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, stride, padding, dilation, groups: int, out_sizes, counter: MacCounter) -> np.ndarray:
    """Transposed convolution as the adjoint of im2col: every input position's contribution Wᵀx (one matmul,
    weights × input positions MACs), scattered onto the output ΠK times (col2im), then cropped by the padding."""
    n, c_in, *size = x.shape
    _, c_group_out, *kernel = weight.shape
    rank, taps, positions = len(kernel), math.prod(kernel), math.prod(size)
    c_group_in = c_in // groups
    w = weight.reshape(groups, c_group_in, c_group_out * taps).transpose(0, 2, 1)[None]  # 1, G, C_out/G·ΠK, C_in/G
    contributions = counter.matmul(w, x.reshape(n, groups, c_group_in, positions))
    contributions = contributions.reshape(n, groups * c_group_out, *kernel, *size)
    # the uncropped output: every position an input reaches, and the output_padding beyond it
    reach = [max((i - 1) * s + d * (k - 1) + 1, p + o) for i, s, d, k, p, o in zip(size, stride, dilation, kernel, padding, out_sizes)]
    full = np.zeros((n, groups * c_group_out, *reach), dtype=x.dtype)
    for tap in itertools.product(*(range(k) for k in kernel)):
        full[(*_all(2), *_strided([t * d for t, d in zip(tap, dilation)], stride, size))] += contributions[(*_all(2), *tap)]
    out = full[(*_all(2), *(slice(p, p + o) for p, o in zip(padding, out_sizes)))]
    out = np.ascontiguousarray(out)
    if bias is not None:
        out += bias.reshape(1, -1, *(1,) * rank)
    return out


def pool(x: np.ndarray, kernel, stride, padding, dilation, out_sizes, mode: str, include_pad: bool = True) -> np.ndarray:
    """Max or average pooling of any rank as ΠK shifted maxima or sums, with PyTorch's ceil_mode and
    count_include_pad rules; `padding` is symmetric, one value per dimension."""
    size = x.shape[2:]
    extra = [max(0, (o - 1) * s + d * (k - 1) + 1 - (n + 2 * p)) for o, s, d, k, n, p in zip(out_sizes, stride, dilation, kernel, size, padding)]
    xp = np.pad(x, ((0, 0), (0, 0), *((p, p + e) for p, e in zip(padding, extra))), constant_values=-np.inf if mode == "max" else 0.0)
    out = None
    for tap in itertools.product(*(range(k) for k in kernel)):
        shifted = xp[(*_all(2), *_strided([t * d for t, d in zip(tap, dilation)], stride, out_sizes))]
        if out is None:
            out = shifted.copy()
        elif mode == "max":
            np.maximum(out, shifted, out=out)
        else:
            out += shifted
    if mode == "max":
        return out
    # divisor: the window clipped to the padded input (torch's count_include_pad with ceil_mode), or
    # to the input itself where the padding is left out of it (count_include_pad=False)
    divisor = np.ones((1,) * len(size))
    for axis, (o, s, k, n, p) in enumerate(zip(out_sizes, stride, kernel, size, padding)):
        starts = np.arange(o) * s
        if include_pad:
            counts = np.minimum(starts + k, n + 2 * p) - starts
        else:
            counts = np.minimum(starts + k - p, n) - np.maximum(starts - p, 0)
        divisor = divisor * counts.reshape([-1 if a == axis else 1 for a in range(len(size))])
    return out / divisor.astype(x.dtype)


def adaptive_pool(x: np.ndarray, out_sizes: tuple[int, ...], mode: str) -> np.ndarray:
    """PyTorch's adaptive bins [floor(i·L/o), ceil((i+1)·L/o)), one dimension at a time (a box's mean or
    maximum is the mean or maximum along each of its sides in turn): sums through cumulative sums,
    maxima over the widest bin with indices clamped into each bin."""
    y = x.astype(np.float64) if mode == "avg" else x
    for axis, o in enumerate(out_sizes, start=2):
        size = y.shape[axis]
        starts, ends = (np.arange(o) * size) // o, -((-(np.arange(o) + 1) * size) // o)
        if mode == "avg":
            sums = np.concatenate([np.zeros_like(np.take(y, [0], axis)), y.cumsum(axis)], axis)
            widths = (ends - starts).reshape([-1 if a == axis else 1 for a in range(y.ndim)])
            y = (np.take(sums, ends, axis) - np.take(sums, starts, axis)) / widths
        else:
            index = np.minimum(starts[:, None] + np.arange((ends - starts).max()), ends[:, None] - 1)  # o, widest bin
            y = np.take(y, index, axis).max(axis=axis + 1)
    return y.astype(x.dtype, copy=False)


def interpolate(x: np.ndarray, out_sizes: tuple[int, ...], mode: str, align_corners: bool, scales: tuple[float, ...] | None) -> np.ndarray:
    """torch.nn.functional.interpolate, one dimension at a time (linear, bilinear and trilinear are separable).

    Source positions follow PyTorch: with a `scale` given, the ratio is 1/scale, not in/out; nearest uses
    float32 index arithmetic as its CPU kernel does; align_corners maps the corner pixels onto each other.
    """
    y = x
    for axis, o in enumerate(out_sizes, start=2):
        size = y.shape[axis]
        scale = scales[axis - 2] if scales else None
        if mode == "nearest":
            if o == size:
                continue
            if o == 2 * size:
                index = np.arange(o) >> 1
            else:
                ratio = np.float32(1.0 / scale) if scale else np.float32(size) / np.float32(o)
                index = np.minimum(np.floor(np.arange(o, dtype=np.float32) * ratio).astype(np.int64), size - 1)
            y = np.take(y, index, axis)
            continue
        dst = np.arange(o, dtype=np.float64)
        if align_corners:
            source = dst * ((size - 1) / (o - 1) if o > 1 else 0.0)
        else:
            source = np.maximum(((1.0 / scale) if scale else size / o) * (dst + 0.5) - 0.5, 0.0)
        low = np.minimum(np.floor(source).astype(np.int64), size - 1)
        high = np.minimum(low + 1, size - 1)
        shape = [-1 if a == axis else 1 for a in range(y.ndim)]
        weight = np.clip(source - low, 0.0, 1.0).reshape(shape)
        y = np.take(y, low, axis) * (1.0 - weight) + np.take(y, high, axis) * weight
    return y.astype(x.dtype, copy=False)
