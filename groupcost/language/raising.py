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

import re
from dataclasses import dataclass, field
from typing import Any, Union

from groupcost.errors import SpecError
from groupcost.ops import Layer
from groupcost.graph.network import INPUT, LayerStep, MergeStep, Network, Step

# ---- the tree of entries ----------------------------------------------------------------


@dataclass
class LayerE:
    type: str
    name: str | None
    args: dict[str, Any]  # every argument, defaults included (written only where they differ)
    source: str | None = None  # from:
    defaults: dict[str, Any] = field(default_factory=dict)


@dataclass
class MergeE:
    kind: str
    name: str
    sources: list[str]


@dataclass
class SeqE:
    name: str
    body: list


@dataclass
class ResidualE:
    body: list
    shortcut: tuple[str | None, list] | None  # (name or None for transparent, entries); None: identity


@dataclass
class ParallelE:
    merge: str
    split: Any  # None, an int or a list of sizes
    branches: list[tuple[str | None, list]]


@dataclass
class CallE:
    block: str
    name: str | None
    args: dict[str, Any]


@dataclass
class RepeatE:
    n: Any
    body: list


Entry = Union[LayerE, MergeE, SeqE, ResidualE, ParallelE, CallE, RepeatE]


@dataclass
class Block:
    name: str
    args: list[str]
    body: list


@dataclass
class Spec:
    name: str
    description: str
    input: tuple[int, ...]
    batch: int
    dtype: str
    body: list
    outputs: list[str]
    blocks: list[Block] = field(default_factory=list)
    defaults: dict[str, dict[str, Any]] = field(default_factory=dict)


class RaiseError(SpecError):
    """The network cannot be written in this form (the caller tries a plainer one)."""


# ---- layer arguments --------------------------------------------------------------------


def layer_args(layer: Layer) -> tuple[dict[str, Any], dict[str, Any]]:
    """A layer's spec arguments, all of them, in the spec's own notation; and their defaults."""
    args: dict[str, Any] = {}
    defaults: dict[str, Any] = {}
    for spec in layer.arg_specs():
        value = getattr(layer, spec.name)
        args[spec.name] = _notation(spec.name, value)
        if not spec.required:
            defaults[spec.name] = _notation(spec.name, spec.default)
        if spec.name == "s" and defaults.get("s") is None and "k" in args:
            defaults["s"] = args["k"]  # a pool's stride defaults to its window
    return args, defaults


def _notation(name: str, value: Any) -> Any:
    if isinstance(value, tuple):
        if name == "p" and len(value) == 4:
            top, bottom, left, right = value
            if top == bottom == left == right:
                return top
            if top == bottom and left == right:
                return [top, left]
            return list(value)
        if len(value) == 2 and value[0] == value[1] and name != "out":
            return value[0]
        return list(value)
    return value


# ---- pass 1 and 2: structure and namespaces ---------------------------------------------


def _parent(name: str) -> tuple[str, ...]:
    return tuple(name.split(".")[:-1])


def _leaf(name: str) -> str:
    return name.split(".")[-1]


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
            segment = home[len(ns)]
            j = i
            while j < len(units) and self.home(units[j])[: len(ns) + 1] == (*ns, segment):
                j += 1
            body, previous = self.entries(units[i:j], (*ns, segment), previous, sliced)
            out.append(SeqE(segment, body))
            i = j
        return out, previous

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
            return LayerE(unit.type_name, _leaf(unit.name), args, source, defaults), unit.name
        if isinstance(unit, MergeStep):
            if any(c is not None for c in unit.channels):
                raise RaiseError(f"'{unit.name}' reads a channel range outside a split")
            return MergeE(unit.kind, _leaf(unit.name), list(unit.inputs)), unit.name
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


# ---- pass 3: folding ---------------------------------------------------------------------

_IDENT = re.compile(r"[^A-Za-z0-9_]")


def _numbers(entry, path=()) -> list[tuple[tuple, Any]]:
    """(position, value) of every whole number in an entry's arguments, in a fixed order."""
    found = []
    if isinstance(entry, LayerE):
        for key, value in entry.args.items():
            if isinstance(value, int) and not isinstance(value, bool):
                found.append(((*path, entry.name, key), value))
    elif isinstance(entry, CallE):
        for key, value in entry.args.items():
            if isinstance(value, int) and not isinstance(value, bool):
                found.append(((*path, entry.name, key), value))
    elif isinstance(entry, RepeatE):
        if isinstance(entry.n, int):
            found.append(((*path, "n"), entry.n))
        for k, e in enumerate(entry.body):
            found += _numbers(e, (*path, "r", k))
    elif isinstance(entry, SeqE):
        for k, e in enumerate(entry.body):
            found += _numbers(e, (*path, entry.name, k))
    elif isinstance(entry, ResidualE):
        for k, e in enumerate(entry.body):
            found += _numbers(e, (*path, "b", k))
        if entry.shortcut:
            for k, e in enumerate(entry.shortcut[1]):
                found += _numbers(e, (*path, "s", k))
    elif isinstance(entry, ParallelE):
        for j, (_, branch) in enumerate(entry.branches):
            for k, e in enumerate(branch):
                found += _numbers(e, (*path, "p", j, k))
    return found


def _shape_key(entry) -> str:
    """The entry with its numbers blanked: equal keys differ only in numbers."""
    if isinstance(entry, LayerE):
        args = ",".join(f"{k}={'#' if isinstance(v, int) and not isinstance(v, bool) else v}" for k, v in entry.args.items())
        return f"L({entry.type},{entry.name},{entry.source},{args})"
    if isinstance(entry, MergeE):
        return f"M({entry.kind},{entry.name},{entry.sources})"
    if isinstance(entry, CallE):
        args = ",".join(f"{k}={'#' if isinstance(v, int) and not isinstance(v, bool) else v}" for k, v in entry.args.items())
        return f"C({entry.block},{entry.name},{args})"
    if isinstance(entry, RepeatE):
        return f"R({'#' if isinstance(entry.n, int) else entry.n},[{';'.join(map(_shape_key, entry.body))}])"
    if isinstance(entry, SeqE):
        return f"S({entry.name},[{';'.join(map(_shape_key, entry.body))}])"
    if isinstance(entry, ResidualE):
        short = "" if entry.shortcut is None else f"{entry.shortcut[0]}:[{';'.join(map(_shape_key, entry.shortcut[1]))}]"
        return f"Res([{';'.join(map(_shape_key, entry.body))}],{short})"
    if isinstance(entry, ParallelE):
        branches = ";".join(f"{n}:[{','.join(map(_shape_key, b))}]" for n, b in entry.branches)
        return f"P({entry.merge},{entry.split},{branches})"
    raise TypeError(entry)


def _substitute(entry, values: dict[tuple, str], path=()):
    """A copy of the entry with the numbers at the given positions replaced by argument names."""
    if isinstance(entry, (LayerE, CallE)):
        args = {k: values.get((*path, entry.name, k), v) for k, v in entry.args.items()}
        return LayerE(entry.type, entry.name, args, entry.source, entry.defaults) if isinstance(entry, LayerE) else CallE(entry.block, entry.name, args)
    if isinstance(entry, RepeatE):
        return RepeatE(values.get((*path, "n"), entry.n), [_substitute(e, values, (*path, "r", k)) for k, e in enumerate(entry.body)])
    if isinstance(entry, SeqE):
        return SeqE(entry.name, [_substitute(e, values, (*path, entry.name, k)) for k, e in enumerate(entry.body)])
    if isinstance(entry, ResidualE):
        body = [_substitute(e, values, (*path, "b", k)) for k, e in enumerate(entry.body)]
        short = None if entry.shortcut is None else (entry.shortcut[0], [_substitute(e, values, (*path, "s", k)) for k, e in enumerate(entry.shortcut[1])])
        return ResidualE(body, short)
    if isinstance(entry, ParallelE):
        return ParallelE(entry.merge, entry.split, [(n, [_substitute(e, values, (*path, "p", j, k)) for k, e in enumerate(b)]) for j, (n, b) in enumerate(entry.branches)])
    return entry


def _all_seqs(entries: list, out: list) -> None:
    for entry in entries:
        if isinstance(entry, SeqE):
            _all_seqs(entry.body, out)
            out.append(entry)
        elif isinstance(entry, RepeatE):
            _all_seqs(entry.body, out)
        elif isinstance(entry, ResidualE):
            _all_seqs(entry.body, out)
            if entry.shortcut:
                _all_seqs(entry.shortcut[1], out)
        elif isinstance(entry, ParallelE):
            for _, branch in entry.branches:
                _all_seqs(branch, out)


def _worth_a_block(seq: SeqE) -> bool:
    return len(seq.body) >= 2 or (len(seq.body) == 1 and isinstance(seq.body[0], (ResidualE, ParallelE)))


def _has_seq(entries: list) -> bool:
    """Whether a namespace inside could still become a block (innermost ones go first)."""
    found: list = []
    _all_seqs(entries, found)
    return any(_worth_a_block(seq) for seq in found)


def _block_name(body: list, taken: set[str]) -> str:
    kinds = set()
    for entry in body:
        if isinstance(entry, ResidualE):
            kinds.add("residual")
        elif isinstance(entry, ParallelE):
            kinds.add("parallel")
        elif isinstance(entry, CallE):
            kinds.add("stage")
    base = "stage" if "stage" in kinds else "residual_block" if "residual" in kinds else "branch_block" if "parallel" in kinds else "block"
    name, k = base, 1
    while name in taken:
        k += 1
        name = f"{base}{k}"
    taken.add(name)
    return name


def fold(body: list, blocks: list[Block]) -> list:
    """Blocks for namespaces equal up to their numbers, then `repeat` for runs of equal calls; to a fixed point."""
    taken = {b.name for b in blocks}
    for _ in range(4):
        seqs: list[SeqE] = []
        _all_seqs(body, seqs)
        groups: dict[str, list[SeqE]] = {}
        for seq in seqs:
            if _worth_a_block(seq) and not _has_seq(seq.body):  # innermost first: its blocks make the outer ones alike
                groups.setdefault(_shape_key(SeqE("", seq.body)), []).append(seq)
        replacements: dict[int, CallE] = {}
        for members in groups.values():
            if len(members) < 2 or any(id(m) in replacements for m in members):
                continue
            numbers = [_numbers(SeqE("", m.body)) for m in members]
            positions = [p for p, _ in numbers[0]]
            if any([p for p, _ in n] != positions for n in numbers):
                continue
            columns: dict[tuple, str] = {}
            arg_of: dict[tuple, str] = {}
            used: set[str] = set()
            for k, position in enumerate(positions):
                column = tuple(n[k][1] for n in numbers)
                if len(set(column)) == 1:
                    continue
                if column not in columns:
                    key = position[-1]
                    if key == "n":
                        base = "depth"
                    elif "_" in key:  # a block's own argument, passed on
                        base = key
                    else:
                        base = _IDENT.sub("_", f"{key}_{position[-2]}").strip("_") or "arg"
                    if base[0].isdigit():
                        base = "a_" + base
                    name, j = base, 1
                    while name in used:
                        j += 1
                        name = f"{base}_{j}"
                    used.add(name)
                    columns[column] = name
                arg_of[position] = columns[column]
            block = Block(_block_name(members[0].body, taken), list(columns.values()), _substitute(SeqE("", members[0].body), arg_of).body)
            blocks.append(block)
            for m, n in zip(members, numbers):
                values = {}
                for (position, value) in n:
                    if position in arg_of:
                        values[arg_of[position]] = value
                replacements[id(m)] = CallE(block.name, m.name, values)
        if not replacements:
            break
        body = _replace(body, replacements)
        for block in blocks:
            block.body = _replace(block.body, replacements)
        body = _repeats(body, blocks)
    return _repeats(body, blocks)


def _replace(entries: list, replacements: dict[int, CallE]) -> list:
    out = []
    for entry in entries:
        if id(entry) in replacements:
            out.append(replacements[id(entry)])
            continue
        if isinstance(entry, SeqE):
            entry = SeqE(entry.name, _replace(entry.body, replacements))
        elif isinstance(entry, RepeatE):
            entry = RepeatE(entry.n, _replace(entry.body, replacements))
        elif isinstance(entry, ResidualE):
            entry = ResidualE(_replace(entry.body, replacements), None if entry.shortcut is None else (entry.shortcut[0], _replace(entry.shortcut[1], replacements)))
        elif isinstance(entry, ParallelE):
            entry = ParallelE(entry.merge, entry.split, [(n, _replace(b, replacements)) for n, b in entry.branches])
        out.append(entry)
    return out


def _repeats(entries: list, blocks: list[Block]) -> list:
    """Runs of equal entries named by their positions → `repeat` (which numbers them the same way)."""
    for block in blocks:
        block.body = _repeat_list(block.body)
    return _repeat_list(entries)


def _repeat_list(entries: list) -> list:
    entries = [_repeat_inside(e) for e in entries]
    out: list = []
    i = 0
    while i < len(entries):
        entry = entries[i]
        j = i + 1
        if isinstance(entry, CallE) and entry.name == str(i):
            while j < len(entries) and isinstance(entries[j], CallE) and entries[j].name == str(j) and entries[j].block == entry.block and entries[j].args == entry.args:
                j += 1
        if j - i >= 2:
            out.append(RepeatE(j - i, [CallE(entry.block, None, entry.args)]))
        else:
            out.append(entry)
        i = j
    return out


def _repeat_inside(entry):
    if isinstance(entry, SeqE):
        return SeqE(entry.name, _repeat_list(entry.body))
    if isinstance(entry, ResidualE):
        return ResidualE(_repeat_list(entry.body), None if entry.shortcut is None else (entry.shortcut[0], _repeat_list(entry.shortcut[1])))
    if isinstance(entry, ParallelE):
        return ParallelE(entry.merge, entry.split, [(n, _repeat_list(b)) for n, b in entry.branches])
    return entry


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


# ---- writing YAML --------------------------------------------------------------------------

_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_scalar(v) for v in value) + "]"
    text = str(value)
    if _PLAIN.match(text) and text.lower() not in _YAML_WORDS:
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _flow(mapping: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{k}: {_scalar(v)}" for k, v in mapping.items()) + "}"


def _entry_lines(entry, indent: int, position: int) -> list[str]:
    pad = " " * indent
    if isinstance(entry, LayerE):
        shown = {k: v for k, v in entry.args.items() if k not in entry.defaults or v != entry.defaults[k]}
        args = {**({"name": entry.name} if entry.name is not None and entry.name != str(position) else {}), **shown}
        if entry.source is not None:
            args["from"] = entry.source
        return [f"{pad}- {entry.type}: {_flow(args)}" if args else f"{pad}- {entry.type}"]
    if isinstance(entry, MergeE):
        return [f"{pad}- {entry.kind}: {_flow({'name': entry.name, 'from': entry.sources})}"]
    if isinstance(entry, CallE):
        args = {**({"name": entry.name} if entry.name is not None and entry.name != str(position) else {}), **entry.args}
        return [f"{pad}- {entry.block}: {_flow(args)}" if args else f"{pad}- {entry.block}"]
    if isinstance(entry, SeqE):
        return [f"{pad}- seq:", f"{pad}    name: {_scalar(entry.name)}", f"{pad}    layers:", *_list_lines(entry.body, indent + 6)]
    if isinstance(entry, RepeatE):
        if len(entry.body) == 1 and isinstance(entry.body[0], CallE):
            inner = _entry_lines(entry.body[0], 0, -1)[0][2:]
            return [f"{pad}- repeat: {{n: {_scalar(entry.n)}, layers: [{inner}]}}"]
        return [f"{pad}- repeat:", f"{pad}    n: {_scalar(entry.n)}", f"{pad}    layers:", *_list_lines(entry.body, indent + 6)]
    if isinstance(entry, ResidualE):
        lines = [f"{pad}- residual:", f"{pad}    body:", *_list_lines(entry.body, indent + 6)]
        if entry.shortcut is not None:
            lines += [f"{pad}    shortcut:", *_branch_lines(entry.shortcut, indent + 6, bullet=False)]
        return lines
    if isinstance(entry, ParallelE):
        lines = [f"{pad}- parallel:"]
        if entry.merge != "concat":
            lines.append(f"{pad}    merge: {entry.merge}")
        if entry.split is not None:
            lines.append(f"{pad}    split: {_scalar(entry.split)}")
        lines.append(f"{pad}    branches:")
        for branch in entry.branches:
            lines += _branch_lines(branch, indent + 6, bullet=True)
        return lines
    raise TypeError(entry)


def _branch_lines(branch: tuple[str | None, list], indent: int, bullet: bool) -> list[str]:
    name, body = branch
    pad = " " * indent
    head = f"{pad}- " if bullet else pad
    inner = " " * (indent + 2) if bullet else pad
    if not body:
        return [f"{head}{{{'name: ' + _scalar(name) + ', ' if name is not None else ''}layers: []}}"]
    first = f"{head}name: {_scalar(name)}" if name is not None else None
    lines = [first] if first else []
    lines.append(f"{inner if first else head}layers:")
    lines += _list_lines(body, indent + (4 if bullet else 2))
    return lines


def _list_lines(entries: list, indent: int) -> list[str]:
    if not entries:
        return [" " * indent + "[]"]
    # An unnamed entry takes its position as its name, except alone in a list (it takes the list's);
    # structures count positions their own way, so beside them every name is written.
    plain = len(entries) > 1 and all(isinstance(e, (LayerE, CallE, MergeE)) for e in entries)
    lines = []
    for position, entry in enumerate(entries):
        lines += _entry_lines(entry, indent, position if plain else -1)
    return lines


def to_yaml(spec: Spec) -> str:
    lines = [f"name: {_scalar(spec.name)}"]
    if spec.description:
        lines.append(f"description: {_scalar(spec.description)}")
    lines.append(f"input: {_scalar(list(spec.input))}")
    if spec.batch != 1:
        lines.append(f"batch: {spec.batch}")
    if spec.dtype != "float32":
        lines.append(f"dtype: {spec.dtype}")
    if spec.defaults:
        lines.append("defaults:")
        lines += [f"  {kind}: {_flow(args)}" for kind, args in spec.defaults.items()]
    if spec.blocks:
        lines.append("blocks:")
        for block in spec.blocks:
            lines.append(f"  {block.name}:")
            if block.args:
                lines.append("    args: {" + ", ".join(f"{a}: " for a in block.args) + "}")
            lines.append("    layers:")
            lines += _list_lines(block.body, 6)
    lines.append("layers:")
    lines += _list_lines(spec.body, 2)
    if spec.outputs:
        lines.append(f"outputs: {_scalar(spec.outputs)}")
    return "\n".join(lines) + "\n"


# ---- the whole raise, checked ---------------------------------------------------------------


def raise_spec(network: Network, description: str = "") -> str:
    """The most structured spec text that builds back into exactly `network` (names, shapes, costs)."""
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
            same = got.layer.cost(got.in_shape, got.out_shape) == want.layer.cost(want.in_shape, want.out_shape)
        if not same:
            return f"step '{want.name}' comes back as '{got.name}' ({got.type_name}, {got.out_shape})"
    if rebuilt.outputs != network.outputs:
        return f"outputs {rebuilt.outputs} instead of {network.outputs}"
    return None
