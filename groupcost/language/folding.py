"""Folding a raised spec (pass 3 of raising): namespaces with the same structure up to their
numbers become blocks whose arguments are the numbers that differ; consecutive equal calls become
`repeat`. Repeated to a fixed point, so ResNet's bottlenecks become a block and its stages a block
of blocks."""

from __future__ import annotations

import re
from typing import Any

from groupcost.language.raised import Block, CallE, LayerE, MergeE, ParallelE, RepeatE, ResidualE, SeqE

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
        return LayerE(entry.type, entry.name, args, entry.source, entry.defaults, entry.share) if isinstance(entry, LayerE) else CallE(entry.block, entry.name, args)
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
