"""Network → a spec a person would write: structure recovered, namespaces kept, repeats folded.

The graph of an imported model is raised back to the spec language in three passes:

1. Structure: a tensor read by several layers forks; where all its paths meet again (its
   immediate post-dominator, a merge) the fork closes. A two-way `add` becomes `residual` (its
   shortcut named when its layers sit under one name, torchvision's `downsample`), any other
   merge `parallel` (with `split:` when the branches read channel ranges). Anything else is
   written in the graph form, each entry with `from:`.
2. Namespaces: consecutive entries under one name segment become `seq: {name: ...}`, so every
   layer keeps its module path (`layer2.0.conv2`).
3. Folding: namespaces with the same structure up to their numbers become blocks whose arguments
   are the numbers that differ; consecutive equal calls become `repeat`. Repeated to a fixed point,
   so ResNet's bottlenecks become a block and its stages a block of blocks.

Every candidate is built again and compared with the network, name by name, shape by shape and
cost by cost; the first one that matches is returned (folded, else unfolded, else the graph form).
No library: the YAML is written here, and read back by groupcost.language.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from groupcost.errors import SpecError
from groupcost.graph.network import INPUT, LayerStep, MergeStep, Network, Step
from groupcost.language.document import CONV_SHORTHANDS
from groupcost.language.folding import fold
from groupcost.language.raised import Block, Entry, LayerE, MergeE, ParallelE, RaiseError, RepeatE, ResidualE, SeqE, Spec, layer_args
from groupcost.language.writing import to_yaml
from groupcost.ops import LAYER_TYPES

# ---- pass 1 and 2: structure and namespaces ---------------------------------------------


def _parent(name: str) -> tuple[str, ...]:
    return tuple(name.split(".")[:-1])


def _leaf(name: str) -> str:
    return name.split(".")[-1]


def _within(name: str, ns: tuple[str, ...]) -> str:
    """The name relative to the namespace `ns`: its leaf, or a dotted name (`convs.0`) below it."""
    return ".".join(name.split(".")[len(ns):])


class _Structure:
    """Finds forks and joins in the network and lists its nodes as units in order."""

    def __init__(self, network: Network, structured: bool):
        self.network = network
        self.structured = structured
        self.by_name: dict[str, Step] = {n.name: n for n in network.nodes}
        self.position = {n.name: i for i, n in enumerate(network.nodes)}
        self.readers: dict[str, list[Step]] = {}
        for node in network.nodes:
            for name in dict.fromkeys(node.inputs):
                self.readers.setdefault(name, []).append(node)
        self.ipdom = self._immediate_post_dominators() if structured else {}

    def _immediate_post_dominators(self) -> dict[str, str | None]:
        """For each tensor, the first node every path from it to an output passes through (None: none).

        Cooper, Harvey and Kennedy's intersection over the reversed DAG, one pass in reverse
        topological order: linear in practice, never a set per node.
        """
        exit_ = None
        position = {**self.position, INPUT: -1}
        outputs = set(self.network.outputs)
        ipdom: dict[str, str | None] = {}

        def intersect(a, b):
            while a != b:
                if a is None or b is None:
                    return None
                while a is not None and b is not None and position[a] < position[b]:
                    a = ipdom[a]
                while a is not None and b is not None and position[b] < position[a]:
                    b = ipdom[b]
            return a

        for name in [*reversed([n.name for n in self.network.nodes]), INPUT]:
            successors = [r.name for r in self.readers.get(name, [])]
            if not successors or name in outputs:
                ipdom[name] = exit_
                continue
            common = successors[0]
            for other in successors[1:]:
                common = intersect(common, other)
            ipdom[name] = common
        return ipdom

    def join(self, tensor: str) -> str | None:
        return self.ipdom.get(tensor)

    # a chain of units from a tensor --------------------------------------------------------

    def chain(self, tensor: str, end: str | None, seen: set[str]) -> tuple[list, str]:
        """Units reading on from `tensor` until the merge `end` (or the network's end)."""
        units: list = []
        while True:
            readers = [r for r in self.readers.get(tensor, []) if r.name not in seen]
            if end is not None and [r.name for r in readers] == [end]:
                return units, tensor
            if not readers:
                return units, tensor
            first = readers[0]
            if len(readers) == 1 and isinstance(first, LayerStep) and first.channels == (None,) and tensor not in self.network.outputs[:-1]:
                units.append(first)
                seen.add(first.name)
                tensor = first.name
                continue
            join = self.join(tensor)
            if join is None or not isinstance(self.by_name[join], MergeStep) or (end is not None and self.position[join] > self.position[end]):
                raise RaiseError(f"no structure closes the fork at '{tensor}'")
            units.append(self.fork(tensor, self.by_name[join], seen))
            tensor = join

    def fork(self, tensor: str, merge: MergeStep, seen: set[str]):
        branches = []  # (first step reading tensor, its channels, units, end)
        for reader in [r for r in self.readers.get(tensor, []) if r.name not in seen and r.name != merge.name]:
            if not isinstance(reader, LayerStep):
                raise RaiseError(f"a merge '{reader.name}' reads the fork at '{tensor}' directly")
            seen.add(reader.name)
            units, last = self.chain(reader.name, merge.name, seen)
            branches.append((reader.channels[0], [reader, *units], last))
        seen.add(merge.name)
        ends = {last: k for k, (_, _, last) in enumerate(branches)}
        ordered = []
        for name, channels in zip(merge.inputs, merge.channels):
            if name == tensor:
                ordered.append((channels, []))
            elif name in ends and channels is None:
                ordered.append(branches[ends.pop(name)][:2])
            else:
                raise RaiseError(f"merge '{merge.name}' reads '{name}', which is not a branch of the fork at '{tensor}'")
        if ends:
            raise RaiseError(f"a branch of the fork at '{tensor}' does not reach '{merge.name}'")
        return _Fork(tensor, merge, ordered)


@dataclass
class _Fork:
    tensor: str
    merge: MergeStep
    branches: list  # (channels read from the fork's tensor, units)


class _Writer:
    """Units → entries, under namespaces; `from:` wherever the input is not the entry before."""

    def __init__(self, network: Network):
        self.network = network

    def entries(self, units: list, ns: tuple[str, ...], previous: str, sliced: str | None = None) -> tuple[list, str]:
        """`sliced`: the one step allowed to read a channel range (a split branch's first)."""
        out: list = []
        i = 0
        while i < len(units):
            unit = units[i]
            home = self.home(unit)
            if home[: len(ns)] != ns:
                raise RaiseError(f"'{self.label(unit)}' lies outside the namespace {'.'.join(ns) or 'top'}")
            if home == ns:
                entry, previous = self.entry(unit, ns, previous, sliced)
                out.append(entry)
                i += 1
                continue
            depth = self.depth(units, i, ns)
            if depth == 0:  # a layer or merge under its dotted name (`m.0`), its namespace's units being interleaved with others'
                entry, previous = self.entry(unit, ns, previous, sliced)
                entry.name = ".".join(unit.name.split(".")[len(ns):])
                out.append(entry)
                i += 1
                continue
            group = home[: len(ns) + depth]
            j = i
            while j < len(units) and self.home(units[j])[: len(group)] == group:
                j += 1
            body, previous = self.entries(units[i:j], group, previous, sliced)
            out.append(SeqE(".".join(group[len(ns):]), body))
            i = j
        return out, previous

    def depth(self, units: list, i: int, ns: tuple[str, ...]) -> int:
        """Segments one entry's namespace takes: one, or where that namespace's units come in several runs
        at this level, interleaved with others' (a detection head's cv2.0, cv3.0, cv2.1, ...), two (`cv2.0`),
        or none for a layer or merge right under it (`m.0`), written under its dotted name."""
        home = self.home(units[i])
        segment = home[len(ns)]
        runs = [k for k, unit in enumerate(units) if self.home(unit)[len(ns): len(ns) + 1] == (segment,)]
        if runs == list(range(runs[0], runs[-1] + 1)):
            return 1
        if len(home) >= len(ns) + 2:
            return 2
        return 0 if isinstance(units[i], (LayerStep, MergeStep)) else 1

    def home(self, unit) -> tuple[str, ...]:
        if isinstance(unit, _Fork):
            return _parent(unit.merge.name)
        return _parent(unit.name)

    @staticmethod
    def label(unit) -> str:
        return unit.merge.name if isinstance(unit, _Fork) else unit.name

    def entry(self, unit, ns: tuple[str, ...], previous: str, sliced: str | None = None) -> tuple[Entry, str]:
        if isinstance(unit, LayerStep):
            if unit.channels != (None,) and unit.name != sliced:
                raise RaiseError(f"'{unit.name}' reads a channel range outside a split")
            source = None if unit.inputs[0] == previous else unit.inputs[0]
            args, defaults = layer_args(unit.layer)
            return LayerE(unit.type_name, _within(unit.name, ns), args, source, defaults, unit.shares), unit.name
        if isinstance(unit, MergeStep):
            if any(c is not None for c in unit.channels):
                raise RaiseError(f"'{unit.name}' reads a channel range outside a split")
            return MergeE(unit.kind, _within(unit.name, ns), list(unit.inputs)), unit.name
        return self.fork(unit, ns, previous)

    def fork(self, fork: _Fork, ns: tuple[str, ...], previous: str) -> tuple[Entry, str]:
        merge = fork.merge
        if fork.tensor != previous:
            raise RaiseError(f"the fork at '{fork.tensor}' does not follow the entry before it")
        if _leaf(merge.name) != merge.kind:
            raise RaiseError(f"merge '{merge.name}' is not named '{merge.kind}'")
        branches = []
        for channels, units in fork.branches:
            body, _ = self.entries(units, ns, fork.tensor, getattr(units[0], "name", None) if channels is not None else None) if units else ([], fork.tensor)
            branches.append((channels, self.branch(body)))
        channels = [c for c, _ in fork.branches]
        split = None
        if any(c is not None for c in channels):
            if any(c is None for c in channels):
                raise RaiseError(f"the branches of '{merge.name}' read both whole tensors and channel ranges")
            sizes = [stop - start for start, stop in channels]
            starts = [start for start, _ in channels]
            if starts != [sum(sizes[:k]) for k in range(len(sizes))] or sum(sizes) != self.shape_c(fork.tensor):
                raise RaiseError(f"the branches of '{merge.name}' read channel ranges that do not split the tensor in order")
            split = len(sizes) if len(set(sizes)) == 1 else sizes
        if merge.kind == "add" and len(branches) == 2 and split is None:
            (_, first), (_, second) = branches
            body, shortcut = (first, second) if first[1] else (second, first)
            if not body[1] or body[0] is not None:
                if body[0] is not None and not shortcut[1]:
                    pass
                else:
                    return ParallelE("add", None, [b for _, b in branches]), merge.name
            inner = [SeqE(body[0], body[1])] if body[0] is not None else body[1]
            return ResidualE(inner, shortcut if shortcut[1] else None), merge.name
        return ParallelE(merge.kind, split, [b for _, b in branches]), merge.name

    def shape_c(self, tensor: str) -> int:
        return self.network.shapes[tensor][0]

    @staticmethod
    def branch(body: list) -> tuple[str | None, list]:
        """A branch under one name segment is `{name: seg, layers: [...]}`; otherwise transparent."""
        if len(body) == 1 and isinstance(body[0], SeqE):
            return body[0].name, body[0].body
        return None, body


def structure(network: Network, structured: bool = True) -> list:
    """The network's entries: structured (residual, parallel) or in the graph form."""
    finder = _Structure(network, structured)
    if structured:
        units, last = finder.chain(INPUT, None, set())
        if len(units) == 0 or _count(units) != len(network.nodes):
            raise RaiseError("some layers are not reached from the input in order")
    else:
        units = list(network.nodes)
    body, _ = _Writer(network).entries(units, (), INPUT)
    return body


def _count(units: list) -> int:
    total = 0
    for unit in units:
        if isinstance(unit, _Fork):
            total += 1 + sum(_count(u) for _, u in unit.branches)
        else:
            total += 1
    return total


# ---- defaults ------------------------------------------------------------------------------


def _defaults(spec: Spec) -> None:
    """`bias: false` (or any argument) shared by most layers of a type becomes `defaults:`."""
    layers: list[LayerE] = []

    def walk(entries):
        for e in entries:
            if isinstance(e, LayerE):
                layers.append(e)
            elif isinstance(e, (SeqE, RepeatE)):
                walk(e.body)
            elif isinstance(e, ResidualE):
                walk(e.body)
                if e.shortcut:
                    walk(e.shortcut[1])
            elif isinstance(e, ParallelE):
                for _, b in e.branches:
                    walk(b)

    walk(spec.body)
    for block in spec.blocks:
        walk(block.body)
    by_type: dict[str, list[LayerE]] = {}
    for e in layers:
        by_type.setdefault(e.type, []).append(e)
    for kind, entries in by_type.items():
        without = [e for e in entries if e.args.get("bias") is False and e.defaults.get("bias") is True]
        if len(without) * 2 > len(entries) and len(entries) >= 2:
            spec.defaults[kind] = {"bias": False}
            for e in entries:
                e.defaults["bias"] = False
    if "conv" in spec.defaults:  # `defaults: conv:` reaches pwconv, dwconv and dwsep too: their `bias: true` must be written
        for shorthand in CONV_SHORTHANDS:
            for e in by_type.get(shorthand, []) if shorthand not in spec.defaults else ():
                e.defaults["bias"] = False


# ---- the whole raise, checked ---------------------------------------------------------------


def spec_names(network: Network) -> Network:
    """The network with every step under another step's name moved beside it: `bn1.act` → `bn1_act`.

    A PyTorch module may hold parameters and submodules at once (a norm with its activation inside,
    timm's BatchNormAct); a spec's entry is a layer or a namespace, never both. The layer keeps its
    name, so its parameters keep their state_dict keys; a step under it takes its name with `_`.
    """
    names = {n.name for n in network.nodes}
    renamed: dict[str, str] = {}
    for node in network.nodes:
        parts = node.name.split(".")
        owner = next((k for k in range(len(parts) - 1, 0, -1) if ".".join(parts[:k]) in names), None)
        if owner is None:
            continue
        base = ".".join(parts[:owner]) + "_" + ".".join(parts[owner:])
        name, n = base, 1
        while name in names:
            n += 1
            name = f"{base}_{n}"
        names.add(name)
        renamed[node.name] = name
    if not renamed:
        return network
    nodes = tuple(replace(n, name=renamed.get(n.name, n.name), inputs=tuple(renamed.get(x, x) for x in n.inputs)) for n in network.nodes)
    return replace(network, nodes=nodes, outputs=tuple(renamed.get(x, x) for x in network.outputs))


def explicit_slices(network: Network) -> Network:
    """The network with every read of a channel range made a `slice` step of its own, before its reader.

    A spec reads a channel range only as a `parallel: split:` branch; cross-stage-partial nets,
    Res2Net, mixed-kernel depthwise convs and partial-channel residuals read ranges elsewhere. As
    slices (`NAME_in`, `NAME_in1`, ... for the reader NAME; `m.0.in1_2` for `m.0.2`) every entry reads a whole tensor.
    """
    names = {n.name for n in network.nodes}
    nodes: list[Step] = []
    for node in network.nodes:
        inputs = list(node.inputs)
        for k, (tensor, channels) in enumerate(zip(node.inputs, node.channels)):
            if channels is None:
                continue
            head, _, last = node.name.rpartition(".")
            base = f"{node.name}_in{k or ''}" if last.isidentifier() else f"{head}{'.' if head else ''}in{k or ''}_{last}"  # `m.0.2` → `m.0.in_2`
            name, n = base, 1
            while name in names:
                n += 1
                name = f"{base}_{n}"
            names.add(name)
            layer = LAYER_TYPES["slice"](start=channels[0], stop=channels[1], dim=1)
            shape = network.shapes[tensor]
            nodes.append(LayerStep(name, layer, shape, layer.out_shape(shape), node.loc, (tensor,), (None,)))
            inputs[k] = name
        nodes.append(replace(node, inputs=tuple(inputs), channels=(None,) * len(inputs)) if inputs != list(node.inputs) else node)
    return replace(network, nodes=tuple(nodes))


def raise_spec(network: Network, description: str = "") -> str:
    """The most structured spec text that builds back into exactly `network` (names, shapes, costs),
    a step under another's name moved beside it (spec_names); failing that, with every read of a
    channel range outside a split made a `slice` step (explicit_slices)."""
    network = spec_names(network)
    try:
        return _raised(network, description)
    except RaiseError:
        if all(c is None for n in network.nodes for c in n.channels):
            raise
        return _raised(explicit_slices(network), description)


def _raised(network: Network, description: str) -> str:
    attempts = []
    for structured, folded in ((True, True), (True, False), (False, False)):
        try:
            body = structure(network, structured)
            blocks: list[Block] = []
            if folded:
                body = fold(body, blocks)
            outputs = list(network.outputs) if list(network.outputs) != [_last_name(network)] else []
            spec = Spec(network.name, description or network.description, network.input_shape, network.batch, network.dtype, body, outputs, blocks)
            _defaults(spec)
            text = "".join(f"# {note}\n" for note in network.notes) + to_yaml(spec)
            problem = mismatch(network, text)
            if problem is None:
                return text
            attempts.append(problem)
        except RaiseError as exc:
            attempts.append(exc.message)
    raise RaiseError(f"cannot write this network as a spec: {attempts[-1]}", "groupcost analyze still reads the model itself")


def _last_name(network: Network) -> str:
    return network.nodes[-1].name


def mismatch(network: Network, text: str) -> str | None:
    """Why the spec `text` does not build into `network`, or None when it does exactly."""
    from groupcost.language import build, parse_text

    try:
        rebuilt = build(parse_text(text, "<raised>"), {})
    except SpecError as exc:
        return str(exc)
    if len(rebuilt.nodes) != len(network.nodes):
        return f"{len(rebuilt.nodes)} steps instead of {len(network.nodes)}"
    for got, want in zip(rebuilt.nodes, network.nodes):
        same = (got.name, got.type_name, got.in_shapes, got.out_shape, tuple(sorted(zip(got.inputs, map(str, got.channels))))) == \
               (want.name, want.type_name, want.in_shapes, want.out_shape, tuple(sorted(zip(want.inputs, map(str, want.channels)))))
        if same and isinstance(got, LayerStep):
            same = got.layer.cost(got.in_shape, got.out_shape) == want.layer.cost(want.in_shape, want.out_shape) and got.shares == want.shares
        if not same:
            return f"step '{want.name}' comes back as '{got.name}' ({got.type_name}, {got.out_shape})"
    if rebuilt.outputs != network.outputs:
        return f"outputs {rebuilt.outputs} instead of {network.outputs}"
    return None
