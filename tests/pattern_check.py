"""One runner for the ONNX pattern tests: a torch module written in the test, exported the ways PyTorch exports it,
read by `analyze`, by `import` (the graph raised to a spec and built again) and by `torch:`, against PyTorch's own
counts of the module (sum(p.numel()), FlopCounterMode's conv + linear MACs and batched products apart, output shapes,
each weighted module's name and output shape), never against groupcost's own figures.

Adopting it in a pattern-test file:

    from pattern_check import EXPORTERS, Refusal, Expected, check_export, check_factory

    @pytest.mark.parametrize("how", EXPORTERS)
    @pytest.mark.parametrize("kind", sorted(MY_PATTERNS))
    def test_my_patterns_read_exactly_every_way(kind, how, tmp_path):
        check_export(my_pattern(kind), INPUT, how, tmp_path)                       # analyze and import, exact

    @pytest.mark.parametrize("kind", sorted(MY_PATTERNS))
    def test_my_patterns_read_from_their_torch_factory(kind):
        check_factory("torch:torch_mine:my_pattern", {"kind": kind}, my_pattern(kind), INPUT)

What may differ from PyTorch's figures is said by an `Expected` (the defaults are exact): the parameters the folding
exporters take off (`fewer_params`), modules no row needs to name, how a module's output shape may be laid out
here, and `also`, a check of the file's own on each reading. Where an export may (or must) be refused by name, pass
`refused=Refusal(...)` with the words the message must hold. `check_export` returns the network it read (None where
refused), for checks of the graph itself; `key=` caches the export of a module a test builds again the same way.
`assert_reads_as_pytorch` checks a network read some other way (a file groupcost wrote, a spec raised by hand).
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from groupcost.errors import GroupcostError
from groupcost.formats.onnx.reader import read_network
from groupcost.graph.analysis import analyze
from groupcost.graph.network import Network
from groupcost.language import build, parse_text
from groupcost.language.raising import raise_spec
from groupcost.sources import read_graph
from torch_named import export_onnx
from torch_reference import torch_counts_with_matmul

try:
    import onnxscript  # noqa: F401

    EXPORTERS = ["folded", "unfolded", "dynamo"]
except ImportError:
    EXPORTERS = ["folded", "unfolded"]
"""TorchScript with constant folding at opset 17 and without it at its default opset, and torch.export (onnxscript)."""

FACTORY = "torch:"
"""The `how` of a reading through groupcost's own `torch:` source."""


def export(model: nn.Module, input_shape, folder: Path, how: str, *, dynamic_batch: bool = True, example_batch: int = 1,
           default_opset: bool = False, key: tuple | None = None) -> Path:
    """`model` exported `how`: "folded" (TorchScript, constant folding, opset 17: GELU written out as Erf arithmetic, as
    below opset 20), "unfolded" (TorchScript at its default opset), "dynamo" (torch.export), "opset13" (TorchScript
    folded at opset 13, below LayerNormalization and Gelu); `default_opset`: folded at the exporter's default. With
    `key` (a tuple that says what the module is: its seeded factory and arguments), a module exported the same way
    earlier in this process is not exported again."""
    options = {"dynamic_batch": dynamic_batch, "example_batch": example_batch, "default_opset": default_opset}
    if key is not None:
        cache_key = (*key, tuple(input_shape), how, *sorted(options.items()))
        if cache_key not in _EXPORTED:
            _EXPORTED[cache_key] = export(model, input_shape, _cache_folder() / str(len(_EXPORTED)), how, **options)
        return _EXPORTED[cache_key]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{how}.onnx"
    opset = None if default_opset else {"folded": 17, "opset13": 13}.get(how)
    export_onnx(model, input_shape, path, dynamo=how == "dynamo", fold=how != "unfolded", opset=opset, dynamic_batch=dynamic_batch,
                example_batch=example_batch)
    return path


_EXPORTED: dict[tuple, Path] = {}


@functools.cache
def _cache_folder() -> Path:
    """One folder a process (an xdist worker) for the cached exports, removed when it ends."""
    folder = Path(tempfile.mkdtemp(prefix="groupcost-exports-"))
    atexit.register(shutil.rmtree, folder, True)
    return folder


# ---- what a reading is checked against: PyTorch's figures of the module ----


def module_outputs(model: nn.Module, input_shape, measure) -> dict:
    """`measure` of every named module's tensor output, by running the model at batch 1; a module called again,
    its first call's."""
    measured = {}

    def record(name: str, output) -> None:  # returns None: the hook leaves the output as it is
        if isinstance(output, torch.Tensor):
            measured.setdefault(name, measure(output))

    handles = [m.register_forward_hook(lambda m, i, o, name=name: record(name, o))
               for name, m in model.named_modules() if name]
    with torch.no_grad():
        model(torch.zeros(1, *input_shape))
    for h in handles:
        h.remove()
    return measured


def module_shapes(model: nn.Module, input_shape) -> dict[str, tuple]:
    """Every named module's output shape (batch dropped)."""
    return module_outputs(model, input_shape, lambda output: tuple(output.shape[1:]))


def weighted_modules(model: nn.Module) -> set[str]:
    """The modules with parameters of their own."""
    return {name for name, m in model.named_modules() if name and any(True for _ in m.parameters(recurse=False))}


def exact(model: nn.Module, input_shape, how: str) -> Collection[int]:
    """No parameter taken off: PyTorch's count."""
    return (0,)


def folded_or_not(model: nn.Module, input_shape, how: str) -> Collection[int]:
    """PyTorch's count, or that count less each batch norm right after a conv (tests/torch_cnn_patterns.foldable_norms),
    which the folding exporters fold into the conv (torch.export's into a transposed conv too): whichever the reading
    gives. A reading that folds nothing (TorchScript's unfolded file, `torch:`) gives PyTorch's count: a norm it misses
    there is a norm lost (C short where the conv has no bias, as a merged norm counted once was)."""
    from torch_cnn_patterns import foldable_norms

    if not folds(how):
        return (0,)
    return (0, sum(foldable_norms(model, input_shape, transposed=how == "dynamo").values()))


def folded_norms(model: nn.Module, input_shape, how: str) -> Collection[str]:
    """The batch norms right after a conv, which a reading folded into the conv does not name."""
    from torch_cnn_patterns import foldable_norms

    return set(foldable_norms(model, input_shape, transposed=how == "dynamo"))


def no_module(model: nn.Module, input_shape, how: str) -> Collection[str]:
    """Every weighted module named."""
    return ()


def per_sample(row_shape: tuple, torch_shape: tuple) -> bool:
    """PyTorch's shape at batch 1 without the batch, or a channels-last module's (Linear, LayerNorm on N×H×W×C)
    with its channels first, as groupcost lays it out."""
    shape = torch_shape[1:]
    return row_shape == shape or (len(shape) > 0 and row_shape == (shape[-1], *shape[:-1]))


def merged_batch(row_shape: tuple, torch_shape: tuple) -> bool:
    """As `per_sample`, where a module on S windows or tokens merged with the batch, (N·S)×…×C in PyTorch (S at batch 1),
    is C×S×… per sample here: the merged dim right after the channels."""
    n, *dims = torch_shape
    merged = () if n == 1 else (n,)
    return len(dims) > 0 and row_shape in ((dims[0], *merged, *dims[1:]), (dims[-1], *merged, *dims[:-1]))


def folds(how: str) -> bool:
    """Whether the export `how` folds a batch norm into the conv before it (TorchScript's constant folding, torch.export)."""
    return how in ("folded", "dynamo", "opset13")


def any_module(name: str, module: nn.Module) -> bool:
    """Every module's output shape compared."""
    return True


@dataclass(frozen=True)
class Expected:
    """How a reading may differ from PyTorch's figures of the module, and what else to check; the defaults are exact.

    fewer_params: the parameters a reading may count fewer than PyTorch, by (module, input shape, how); where several,
      any one of them (e.g. the folded norms for an exporter that may or may not fold them).
    unnamed: weighted modules no row needs to name (a norm folded into its conv).
    parent_kinds: a weighted module may be named by its parent's row, of these kinds (None: of any kind).
    shape_fits: whether a row's output shape is its module's, given PyTorch's shape at batch 1 (the batch kept).
    shaped: which modules' output shapes are compared with their rows', by (name, module).
    also: a check of the test's own on each reading: (report, graph, model, label).
    """

    fewer_params: Callable[[nn.Module, tuple, str], Collection[int]] = exact
    unnamed: Callable[[nn.Module, tuple, str], Collection[str]] = no_module
    parent_kinds: frozenset[str] | None = None
    shape_fits: Callable[[tuple, tuple], bool] = per_sample
    shaped: Callable[[str, nn.Module], bool] = any_module
    also: Callable | None = None


EXACT = Expected()
FOLDED_OR_NOT = Expected(fewer_params=folded_or_not, unnamed=folded_norms)
"""A batch norm right after a conv may be folded into it: PyTorch's count of the modules, or that less the norms."""
TRACED_BY_TORCH_EXPORT = Expected(fewer_params=lambda model, shape, how: folded_or_not(model, shape, "dynamo"),
                                  unnamed=lambda model, shape, how: folded_norms(model, shape, "dynamo"))
"""A `torch:` source only torch.export can trace: `torch:` falls back to it, whose optimiser folds as in its files."""


@dataclass(frozen=True)
class Refusal:
    """An export that may be refused by name (`must`: has to be): the error is a GroupcostError whose message holds
    every one of `says`."""

    says: tuple[str, ...]
    must: bool = False


@dataclass(frozen=True)
class TorchFigures:
    """PyTorch's figures of one module at one input shape, computed once for all its readings."""

    params: int
    macs: int
    matmul_macs: int
    outputs: tuple[tuple[int, ...], ...]
    shapes: dict[str, tuple[int, ...]]

    @classmethod
    def of(cls, model: nn.Module, input_shape) -> TorchFigures:
        params, macs, matmul_macs, out_shape = torch_counts_with_matmul(model, input_shape)
        outputs = out_shape if isinstance(out_shape[0], tuple) else (out_shape,)
        return cls(params, macs, matmul_macs, outputs, module_outputs(model, input_shape, lambda output: tuple(output.shape)))


def assert_reads_as_pytorch(network: Network, model: nn.Module, input_shape, how: str, label: str,
                            expected: Expected = EXACT, figures: TorchFigures | None = None) -> None:
    """`network`, read `how` from `model`, gives PyTorch's params (less what `expected` allows), MACs, matmul MACs,
    output shapes; every weighted module is named by a row (or its parent's row, or its parameter's path); each row
    named after a module has that module's output shape."""
    figures = figures or TorchFigures.of(model, input_shape)
    report = analyze(network)
    shortfall = figures.params - report.totals.params
    assert shortfall in expected.fewer_params(model, input_shape, how), (label, report.totals.params, figures.params)
    assert (report.totals.macs, report.totals.matmul_macs) == (figures.macs, figures.matmul_macs), label
    assert tuple(s for _, s in report.outputs) == figures.outputs, label
    names = {row.name for row in report.rows}
    parents = names if expected.parent_kinds is None else {row.name for row in report.rows if row.kind in expected.parent_kinds}
    owners = dict(model.named_modules())
    unnamed = set(expected.unnamed(model, input_shape, how))
    missing = {m for m in weighted_modules(model) - unnamed if m not in names and m.rsplit(".", 1)[0] not in parents
               and not any(f"{m}.{p}" in names for p, _ in owners[m].named_parameters(recurse=False))}  # a table: its parameter's path
    assert not missing, (label, missing, sorted(names))
    for row in report.rows:
        if row.name in figures.shapes and expected.shaped(row.name, owners[row.name]):
            assert expected.shape_fits(row.out_shape, figures.shapes[row.name]), (label, row.name, row.out_shape, figures.shapes[row.name])
    if expected.also is not None:
        expected.also(report, network, model, label)


def raised(network: Network) -> Network:
    """The network raised to a spec and built again: what `import` writes, read back."""
    return build(parse_text(raise_spec(network), "<raised>"), {})


def check_export(model: nn.Module, input_shape, how: str, folder: Path, expected: Expected = EXACT, *,
                 refused: Refusal | None = None, counted: nn.Module | None = None, key: tuple | None = None,
                 dynamic_batch: bool = True, example_batch: int = 1, default_opset: bool = False) -> Network | None:
    """`model` exported `how` (see `export`) and read: by `analyze` and by `import`, each as PyTorch counts `counted`
    (the model itself unless given: a module that does the same arithmetic on the path FlopCounterMode counts).
    Returns the network read, or None where it was refused as `refused` allows."""
    path = export(model, input_shape, folder, how, dynamic_batch=dynamic_batch, example_batch=example_batch, default_opset=default_opset, key=key)
    try:
        network = read_network(path)
    except GroupcostError as exc:
        if refused is None:
            raise
        assert all(said in str(exc) for said in refused.says), (how, str(exc))
        return None
    assert refused is None or not refused.must, (how, "read where it must be refused by name", refused.says)
    counted = counted if counted is not None else model
    figures = TorchFigures.of(counted, input_shape)
    assert_reads_as_pytorch(network, counted, input_shape, how, f"{how} analyze", expected, figures)
    assert_reads_as_pytorch(raised(network), counted, input_shape, how, f"{how} import", expected, figures)
    return network


def check_factory(source: str, arguments: dict, model: nn.Module, input_shape, expected: Expected = EXACT) -> Network:
    """The `torch:` source `source` with `arguments` (traced by groupcost itself) read as PyTorch counts `model`."""
    network = read_graph(source, input_shape, arguments)
    assert_reads_as_pytorch(network, model, input_shape, FACTORY, FACTORY, expected)
    return network
