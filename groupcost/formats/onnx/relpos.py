"""A relative position bias the exporter folded into one constant, read back as the learned table it was gathered from.

Swin, CoAtNet, MaxViT and GC ViT add `table[index]` viewed and permuted to heads × N × N to their attention logits
(LeViT and EfficientFormer `biases[:, index]`); TorchScript's constant folding and torch.export's optimiser compute it
into one constant (`onnx::Add_940`, `index_5`), so the file no longer holds the table. Its values still tell the table:
in an h × w window every entry of a head's N × N bias is the table's entry for the offset between the two positions,
signed ((2h − 1)(2w − 1) entries: Swin) or absolute (h · w entries: LeViT). groupcost reads the table as the smallest
of those layouts that gives back every value exactly, and only where its entries are a learned table's, nearly all
distinct and unrelated to their neighbours'. A bias of equal values (a table initialised to zeros: LeViT,
EfficientFormer) fits every layout, and one computed by a small MLP from the offsets (Swin V2's continuous bias,
MaxxViT's RelPosMlp) varies smoothly from entry to entry, and its parameters are the MLP's: both are refused by name,
as a gathered table of other dims is.
"""

from __future__ import annotations

from groupcost.formats.onnx.importer import Importer
from groupcost.formats.onnx.values import UNFOLDED_EXPORT, VIEW_OPERATORS, Act, Unsupported, attributes, tensor_buffer
from groupcost.ops import LAYER_TYPES

MAX_VALUES = 1 << 23
"""The largest folded bias read (32 MiB of float32: 16 heads of 14 × 14 windows hold 614,656)."""

ROUGHNESS = 0.8
"""The least mean step between neighbouring entries of a head's table, over their standard deviation, of a learned
table: independent draws give 2/√π ≈ 1.13 (measured 1.08–1.18 on tables of 7 × 7 and 14 × 14 windows), a randomly
initialised MLP of the offsets 0.03–0.4."""

DISTINCT = 0.9
"""The least share of distinct values among a head's entries of a learned table: float32 draws of a normal repeat now and
then (about one table in a hundred of 729 entries holds a pair), a function of the distance between two positions
(|Δy| + |Δx|, one value for (1, 2) and (2, 1)) repeats most of them, and fits a layout of fewer entries than its model's."""


def folded_bias(imp: Importer, i: int, node, x: Act, constant: str, dims: tuple[int, ...]) -> Act | None:
    """x + `constant` (of `dims`), a constant the exporter computed (groupcost.formats.onnx.constants, which refuses it
    otherwise), of heads × N × N, x's last dims: a `bias_table` of the table read back from its values (one table for
    all of x's leading dims where it has more: MaxViT's windows); None when it is not that."""
    if x.channels is not None or len(x.shape) < 3 or x.shape[-1] != x.shape[-2]:
        return None
    found = _viewed_initializer(imp, constant)
    if found is None or dims[-3:] != x.shape[-3:] or set(dims[:-3]) - {1}:
        return None
    root, views = found
    tensor = imp.initializers[root]
    values = tensor_buffer(tensor, imp.folder, MAX_VALUES)
    if values is None:
        return None
    heads, n = x.shape[-3:-1]
    entries, why = table_entries(laid_out(values, tuple(tensor.dims), views), heads, n)
    if entries is None:
        raise Unsupported(f"add of {list(dims)} values the exporter computed ('{root}') that no learned table of a "
                          f"relative position bias can be read from: {why}; {UNFOLDED_EXPORT}")
    first = imp.tables.setdefault(root, i)
    if first != i:
        raise Unsupported(f"the folded relative position bias '{root}' is added again (after node '{imp.order[first].name}'): "
                          "its parameters would count twice")
    shared = len(x.shape) > 3
    layer = LAYER_TYPES["bias_table"](entries=heads * entries, shared=True) if shared else LAYER_TYPES["bias_table"](entries=entries)
    return imp.layer(i, node, "bias_table", layer, x)


def _viewed_initializer(imp: Importer, name: str) -> tuple[str, list[tuple[tuple[int, ...], tuple[int, ...]]]] | None:
    """The initializer a constant is a view of (TorchScript keeps Swin's gathered table, N² × heads, and folds neither its
    view to N × N × heads nor the permute), and the transposes on the way from it: (input dims, permutation) each."""
    transposes = []
    while (name := imp.root(name)) not in imp.initializers:
        j = imp.producers.get(name)
        view = imp.order[j] if j is not None else None
        if view is None or view.op_type not in VIEW_OPERATORS:
            return None
        if view.op_type == "Transpose":
            dims = getattr(imp.env.get(view.input[0]), "dims", None)
            if dims is None:
                return None
            transposes.append((tuple(dims), tuple(attributes(view).get("perm", range(len(dims) - 1, -1, -1)))))
        name = view.input[0]
    return name, transposes[::-1]


def laid_out(values, dims: tuple[int, ...], transposes: list):
    """The initializer's values as its views lay them out (views keep the order of the values; transposes move them)."""
    import numpy as np

    array = np.asarray(values).reshape(dims)
    for before, permutation in transposes:
        array = array.reshape(before).transpose(permutation)
    return array.ravel()


def table_entries(values, heads: int, n: int) -> tuple[int | None, str]:
    """The entries per head of the learned table a folded heads × n × n bias was gathered from, or None and why not."""
    import numpy as np

    bias = np.asarray(values).reshape(heads, n * n)
    if (bias == bias[:, :1]).all():
        return None, "they are all equal (an untrained table of zeros), as a table of any size gives them"
    fitting = []
    for h in (d for d in range(1, n + 1) if n % d == 0):
        w = n // h
        y, x = np.divmod(np.arange(n), w)
        dy, dx = y[:, None] - y[None, :], x[:, None] - x[None, :]
        layouts = ((np.abs(dy) * w + np.abs(dx), (h, w)), ((dy + h - 1) * (2 * w - 1) + dx + w - 1, (2 * h - 1, 2 * w - 1)))
        for index, grid in layouts:
            index = index.ravel()
            for rows in (bias[:1], bias):  # the first head alone rules most layouts out
                table = np.zeros((len(rows), grid[0] * grid[1]), dtype=bias.dtype)
                table[:, index] = rows
                if not np.array_equal(table[:, index], rows):
                    break
            else:
                fitting.append((grid[0] * grid[1], grid, table))
    if not fitting:
        return None, "they are not a table read at the offsets between the positions of a window"
    entries, grid, table = min(fitting, key=lambda fit: fit[0])
    if any(len(np.unique(row)) < DISTINCT * entries for row in table):
        return None, f"its table of {entries} entries per head repeats values"
    table = table.reshape(heads, *grid)
    steps = [np.abs(np.diff(table, axis=axis)).mean(axis=(1, 2)) for axis in (1, 2) if grid[axis - 1] > 1]
    roughness = sum(steps) / len(steps) / table.reshape(heads, -1).std(axis=1)
    if (roughness < ROUGHNESS).any():
        return None, "they vary smoothly with the offset, as a position MLP's do (its parameters are the MLP's)"
    return entries, ""
