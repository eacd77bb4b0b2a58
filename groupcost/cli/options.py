"""Command-line values → Python values, each failure a located UsageError (`--set:1:3: error: ...`)."""

from __future__ import annotations

import re

from groupcost.errors import GroupcostError, Location, SpecError, UsageError
from groupcost.language.expr import Value, evaluate


def _error(option: str, column: int, message: str, hint: str | None = None) -> UsageError:
    return UsageError(message, hint, Location(option, 1, column))


class Word(str):
    """A bare word written on the command line (`--set act=gelu`), with where: a string where the spec's
    variable is one; where it is a number, the word is a name, and an undefined one (groupcost.sources)."""

    place: Location


def value(expression: str, variables: dict[str, Value], place: Location | None = None) -> Value:
    """A value as the spec language reads one written in `vars:`: a bare word not naming a variable is
    that word (`gelu`, as `act: gelu`); anything else an expression (`8`, `G*2`, `'gelu'`, `[1, 2]`)."""
    text = expression.strip()
    if not text:
        raise SpecError("no value after '='", "e.g. --set G=8, --set act=gelu, --set depths=[2,2]")
    if _is_word(text) and text not in variables:
        word = Word(text)
        word.place = place or Location("--set")
        return word
    return evaluate(text, variables)


def _is_word(text: str) -> bool:
    """`gelu`, `body.layer3`: a name or a dotted name, never an expression."""
    return all(part.isidentifier() or part.isdigit() for part in text.split(".")) and text[0].isalpha()


def assignments(values: list[str], option: str = "--set") -> dict[str, Value]:
    """['G=8', 'width=G*2', 'act=gelu', 'depths=[1,1]'] → {'G': 8, ...}: every kind of value the
    language has (numbers, strings, lists), each an expression over earlier ones or a bare word."""
    result: dict[str, Value] = {}
    for text in values:
        name, sep, expression = text.partition("=")
        name = name.strip()
        if not sep or not name:
            raise _error(option, 1, f"expected VAR=VALUE, got '{text}'", "e.g. --set G=8")
        if not name.isidentifier():
            raise _error(option, 1, f"'{name}' is not a variable name")
        try:
            result[name] = value(expression, result, Location(option, 1, len(name) + 2))
        except SpecError as exc:
            raise _error(option, len(name) + 2, exc.message, exc.hint) from None
    return result


def int_list(text: str, option: str, count: tuple[int, ...], what: str, example: str | None = None) -> list[int]:
    """'64,56,56' → [64, 56, 56]; `count` lists the accepted lengths."""
    parts = re.split(r"[,×]|(?<=\d)x(?=\d)", text)  # 64,56,56 or 3x5
    values, column = [], 1
    example = example or _example(count)
    for part in parts:
        stripped = part.strip()
        if stripped.startswith("-") and stripped[1:].isdigit():
            raise _error(option, column, f"{option} values must be positive, got {stripped} in '{text}'", f"{what}, e.g. {example}")
        if not stripped.isdigit():
            raise _error(option, column, f"'{stripped}' in '{text}' is not a whole number", f"{what}, e.g. {example}")
        values.append(int(stripped))
        column += len(part) + 1
    if len(values) not in count:
        raise _error(option, 1, f"expected {' or '.join(map(str, count))} numbers, got {len(values)} in '{text}'", f"{what}, e.g. {example}")
    return values


def _example(count: tuple[int, ...]) -> str:
    return ",".join(["64", "56", "56", "1"][: count[-1]])


def positive(values: list[int], option: str) -> list[int]:
    if any(v < 1 for v in values):
        raise _error(option, 1, f"{option} values must be positive, got {','.join(map(str, values))}")
    return values


DIMENSIONS = {1: "L", 2: "H,W", 3: "T,H,W"}


def per_dimension(text: str, option: str, rank: int = 2) -> tuple[int, ...]:
    """'3' → (3,) * rank; '3,5' → (3, 5) for a 2-D input, one number per spatial dimension (rank of them)."""
    example = "3 or " + ",".join(["3", "5", "5"][:rank]) if rank > 1 else "3"
    values = positive(int_list(text, option, tuple(sorted({1, rank})), f"{option} N or one per dimension ({DIMENSIONS[rank]})", example), option)
    return tuple(values) if len(values) == rank else (values[0],) * rank


def padding(text: str, rank: int = 2) -> tuple[int, ...] | str:
    """(before, after) per spatial dimension, flattened ((top, bottom, left, right) in 2-D), or 'same': from P, one P per
    dimension, or a before,after pair per dimension."""
    if text.strip() in ("same", "valid"):
        return "same" if text.strip() == "same" else (0,) * (2 * rank)
    if text.strip().isalpha():
        from difflib import get_close_matches

        close = get_close_matches(text.strip(), ["same", "valid"], n=1)
        raise _error("-p", 1, f"unknown padding '{text.strip()}'", f"did you mean '{close[0]}'?" if close else "same, valid, P, PH,PW or T,B,L,R")
    what = {1: "P, before,after", 2: "P, PH,PW, top,bottom,left,right", 3: "P, PT,PH,PW, six before,after numbers"}[rank]
    values = int_list(text, "-p", tuple(sorted({1, rank, 2 * rank})), f"{what}, same or valid", "1, " + ",".join(["1", "2", "2"][:rank]) + " or same")
    if len(values) == 1:
        return (values[0],) * (2 * rank)
    if len(values) == rank:
        return tuple(v for value in values for v in (value, value))
    return tuple(values)


def group_choices(text: str, words: tuple[str, ...] = ("dw",)) -> list[int | str]:
    """'1,2,4,dw' → [1, 2, 4, 'dw']: positive group counts, or one of `words` ('dw'; 'divisors' for whatif)."""
    choices: list[int | str] = []
    column = 1
    for part in text.split(","):
        token = part.strip()
        if token in words:
            choices.append(token)
        elif token.isdigit() and int(token) > 0:
            choices.append(int(token))
        else:
            raise _error("--g", column, f"'{token}' is not a group count", f"positive whole numbers or {' or '.join(words)}, e.g. --g 1,2,4,{words[0]}")
        column += len(part) + 1
    return choices


def variations(values: list[str]) -> dict[str, list[Value]]:
    """['G=1,2,4', 'act=relu,gelu'] → {'G': [1, 2, 4], 'act': ['relu', 'gelu']}; each value a constant
    expression or a bare word (split at the commas outside brackets and quotes: `depths=[1,1],[2,2]`)."""
    result: dict[str, list[Value]] = {}
    for text in values:
        name, sep, listed = text.partition("=")
        name = name.strip()
        if not sep or not name or not listed.strip():
            raise _error("--vary", 1, f"expected VAR=v1,v2,..., got '{text}'", "e.g. --vary G=1,2,4,8")
        if not name.isidentifier():
            raise _error("--vary", 1, f"'{name}' is not a variable name")
        if name in result:
            raise _error("--vary", 1, f"'{name}' is varied twice", "list all its values in one --vary")
        column, items = len(name) + 2, []
        for part in _top_level_items(listed):
            try:
                items.append(value(part, {}, Location("--vary", 1, column)))
            except SpecError as exc:
                raise _error("--vary", column, exc.message, exc.hint) from None
            column += len(part) + 1
        result[name] = items
    return result


def _top_level_items(text: str) -> list[str]:
    """'1,[2,3],'a,b'' → ['1', '[2,3]', "'a,b'"]: the commas outside brackets and quotes."""
    items, depth, quote, start = [], 0, None, 0
    for i, ch in enumerate(text):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    return [*items, text[start:]]


def expand_specs(values: list[str]) -> list[str]:
    """Spec arguments with globs expanded (sorted); a glob that matches nothing is an error. A `torch:`
    source is no file: its `?` opens the factory's keywords."""
    import glob

    result: list[str] = []
    for value in values:
        if not value.startswith("torch:") and any(ch in value for ch in "*?["):
            matches = sorted(glob.glob(value, recursive=True))
            if not matches:
                raise UsageError(f"'{value}' matches no file", None, Location(value))
            result += matches
        else:
            result.append(value)
    return result


def located(parse, text: str, option: str):
    """parse(text), its error placed at `option` when it has no place of its own."""
    try:
        return parse(text)
    except GroupcostError as exc:
        raise exc.located(Location(option)) from None


def input_shape(text: str | None) -> tuple[int, ...] | None:
    """--input C,H,W → (C, H, W)."""
    if text is None:
        return None
    return tuple(positive(int_list(text, "--input", (1, 2, 3, 4), "C,H,W (or C,L, C,T,H,W, F)", "3,160,160"), "--input"))


def device(name: str | None, peak_tflops: float | None, bandwidth_gbs: float | None, default: bool):
    """--device, or --peak-tflops with --bandwidth-gbs → a roofline.Device (a calibrated profile.LatencyProfile for a
    latency profile file); None when none is given and none is `default`."""
    from groupcost.run import profile

    if name is not None and (peak_tflops is not None or bandwidth_gbs is not None):
        raise UsageError("--device and --peak-tflops/--bandwidth-gbs both describe the device", "give one or the other", Location("--device"))
    if not default and name is None and peak_tflops is None and bandwidth_gbs is None:
        return None
    return profile.device(name, peak_tflops, bandwidth_gbs)
