"""Vectorised NumPy building blocks for the layers' `forward` kernels (the verify path only).

No Python loops over pixels or channels: convolutions are strided window views and one batched
matrix multiply over the groups (in chunks of output rows, to bound memory; 1×1 convolutions need
no windows), depthwise convolutions and pools K² shifted operations over the whole tensor. Every multiply-accumulate a kernel
performs is counted by `MacCounter` from the sizes of the contractions it actually ran.
"""

from __future__ import annotations

import numpy as np

CACHE_CHUNK = 1 << 19
"""Columns built per chunk, at most (2 MiB of float32): a chunk that stays in cache while the matmul
reads it ran this machine's largest zoo convolution at 55 % of np.matmul's peak, against 41 % unchunked."""


class MacCounter:
    """Multiply-accumulates performed, counted from operand shapes (never from our formulas).

    `chunk_elements` bounds the im2col buffers, so that peak memory stays within about twice the
    largest activation plus the weights.
    """

    def __init__(self, chunk_elements: int = 1 << 24) -> None:
        self.macs = 0
        self.chunk_elements = chunk_elements

    def matmul(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """a (..., M, K) @ b (..., K, N): M·K·N multiply-accumulates per batch entry."""
        batch = int(np.prod(np.broadcast_shapes(a.shape[:-2], b.shape[:-2]), dtype=np.int64))
        self.macs += batch * a.shape[-2] * a.shape[-1] * b.shape[-1]
        return np.matmul(a, b)

    def multiply_add(self, accumulator: np.ndarray, a: np.ndarray, b: np.ndarray, scratch: np.ndarray) -> None:
        """accumulator += a · b element-wise (through `scratch`, no allocation): one multiply-accumulate per element."""
        np.multiply(a, b, out=scratch)
        self.macs += scratch.size
        accumulator += scratch


def pad(x: np.ndarray, pads: tuple[int, int, int, int], value: float = 0.0) -> np.ndarray:
    """NCHW padded by (top, bottom, left, right)."""
    top, bottom, left, right = pads
    if not any(pads):
        return x
    return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=value)


def windows(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int], out_hw: tuple[int, int]) -> np.ndarray:
    """A read-only view (N, C, H_out, W_out, K_h, K_w) of every window of a padded NCHW tensor."""
    n, c, _, _ = x.shape
    sn, sc, sh, sw = x.strides
    return np.lib.stride_tricks.as_strided(
        x,
        shape=(n, c, out_hw[0], out_hw[1], kernel[0], kernel[1]),
        strides=(sn, sc, sh * stride[0], sw * stride[1], sh * dilation[0], sw * dilation[1]),
        writeable=False,
    )


def conv2d(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, stride, pads, dilation, groups: int, out_hw, counter: MacCounter) -> np.ndarray:
    """Grouped convolution as W (G, C_out/G, C_g·K²) @ columns (N, G, C_g·K², positions), in chunks of output rows."""
    n, c_in = x.shape[:2]
    c_out, c_group, kh, kw = weight.shape
    h_out, w_out = out_hw
    if groups == c_in and c_group == 1 and (kh, kw) != (1, 1):
        return depthwise2d(x, weight, bias, stride, pads, dilation, out_hw, counter)
    w = weight.reshape(1, groups, c_out // groups, c_group * kh * kw)
    if (kh, kw) == (1, 1) and not any(pads):
        picked = x[:, :, : stride[0] * (h_out - 1) + 1 : stride[0], : stride[1] * (w_out - 1) + 1 : stride[1]]
        columns = np.ascontiguousarray(picked).reshape(n, groups, c_group, h_out * w_out)
        out = counter.matmul(w, columns).reshape(n, c_out, h_out, w_out)
    else:
        view = windows(pad(x, pads), (kh, kw), stride, dilation, out_hw).transpose(0, 1, 4, 5, 2, 3)  # N, C, Kh, Kw, Ho, Wo
        out = np.empty((n, c_out, h_out, w_out), dtype=x.dtype)
        rows = max(1, min(h_out, min(counter.chunk_elements, CACHE_CHUNK) // max(1, n * c_in * kh * kw * w_out)))
        for start in range(0, h_out, rows):
            part = view[..., start : start + rows, :]
            r = part.shape[-2]
            columns = part.reshape(n, groups, c_group * kh * kw, r * w_out)  # the one copy: im2col of this chunk
            out[:, :, start : start + r] = counter.matmul(w, columns).reshape(n, c_out, r, w_out)
    if bias is not None:
        out += bias.reshape(1, -1, 1, 1)
    return out


def depthwise2d(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, stride, pads, dilation, out_hw, counter: MacCounter) -> np.ndarray:
    """Depthwise (G = C_in, `mult` filters a channel): K_h·K_w shifted multiply-adds over the whole tensor."""
    n, c_in = x.shape[:2]
    c_out, _, kh, kw = weight.shape
    mult = c_out // c_in
    xp = pad(x, pads)
    if mult > 1:
        xp = np.repeat(xp, mult, axis=1)  # output channel o reads input channel o // mult, as torch does
    h_out, w_out = out_hw
    (sh, sw), (dh, dw) = stride, dilation
    out = np.zeros((n, c_out, h_out, w_out), dtype=x.dtype)
    scratch = np.empty_like(out)
    for i in range(kh):
        for j in range(kw):
            shifted = xp[:, :, i * dh : i * dh + sh * (h_out - 1) + 1 : sh, j * dw : j * dw + sw * (w_out - 1) + 1 : sw]
            counter.multiply_add(out, shifted, weight[:, 0, i, j].reshape(1, c_out, 1, 1), scratch)
    if bias is not None:
        out += bias.reshape(1, -1, 1, 1)
    return out


def pool2d(x: np.ndarray, kernel, stride, padding: tuple[int, int], dilation, out_hw, mode: str) -> np.ndarray:
    """Max or average pooling as K_h·K_w shifted maxima or sums, with PyTorch's ceil_mode and count_include_pad rules."""
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    h_out, w_out = out_hw
    extra_h = max(0, (h_out - 1) * sh + dh * (kh - 1) + 1 - (h + 2 * ph))
    extra_w = max(0, (w_out - 1) * sw + dw * (kw - 1) + 1 - (w + 2 * pw))
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph + extra_h), (pw, pw + extra_w)), constant_values=-np.inf if mode == "max" else 0.0)
    out = None
    for i in range(kh):
        for j in range(kw):
            shifted = xp[:, :, i * dh : i * dh + sh * (h_out - 1) + 1 : sh, j * dw : j * dw + sw * (w_out - 1) + 1 : sw]
            if out is None:
                out = shifted.copy()
            elif mode == "max":
                np.maximum(out, shifted, out=out)
            else:
                out += shifted
    if mode == "max":
        return out
    # divisor: the window clipped to the padded input (torch's count_include_pad with ceil_mode)
    rows = np.minimum(np.arange(h_out) * sh + kh, h + 2 * ph) - np.arange(h_out) * sh
    cols = np.minimum(np.arange(w_out) * sw + kw, w + 2 * pw) - np.arange(w_out) * sw
    return out / np.outer(rows, cols).astype(x.dtype)


def adaptive_avg_pool2d(x: np.ndarray, out_hw: tuple[int, int]) -> np.ndarray:
    """PyTorch's adaptive bins [floor(i·H/o), ceil((i+1)·H/o)), summed through an integral image."""
    n, c, h, w = x.shape
    oh, ow = out_hw
    integral = np.zeros((n, c, h + 1, w + 1), dtype=np.float64)
    integral[:, :, 1:, 1:] = x.astype(np.float64).cumsum(2).cumsum(3)
    hs, he = (np.arange(oh) * h) // oh, -((-(np.arange(oh) + 1) * h) // oh)
    ws, we = (np.arange(ow) * w) // ow, -((-(np.arange(ow) + 1) * w) // ow)
    total = (integral[:, :, he][:, :, :, we] - integral[:, :, hs][:, :, :, we] - integral[:, :, he][:, :, :, ws] + integral[:, :, hs][:, :, :, ws])
    return (total / np.outer(he - hs, we - ws)).astype(x.dtype)
