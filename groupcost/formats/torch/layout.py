"""The layout of the raised PyTorch file's text: long signatures and calls wrapped one argument a line
(as black would), and the shape unpacking left out where nothing reads it."""

from __future__ import annotations

import ast
import re

from groupcost.formats.torch.expressions import python_literal


def signature_lines(opening: str, parameters: list[str], closing: str, indent: str) -> list[str]:
    """`opening` + parameters + `closing` on one line where it fits in 100 columns, else one parameter a line,
    a long list value one item a line (as black would)."""
    line = f"{opening}{', '.join(parameters)}{closing}"
    if len(line) <= 100:
        return [line]
    lines = [opening]
    for parameter in parameters:
        name, equals, value = parameter.partition("=")
        if equals and len(indent) + 4 + len(parameter) > 100 and value.startswith("[") and python_literal(value):
            lines.append(f"{indent}    {name}=[")
            lines += [f"{indent}        {item!r}," for item in ast.literal_eval(value)]
            lines.append(f"{indent}    ],")
        else:
            lines.append(f"{indent}    {parameter},")
    lines.append(f"{indent}{closing}")
    return lines


def wrap_calls(lines: list[str]) -> list[str]:
    """A line over 100 columns that assigns a call (`module = Bneck(v, shape, k=..., ...)`) gets one argument a line."""
    wrapped = []
    for line in lines:
        m = re.fullmatch(r"(\s*)([\w.]+ = )(.*\))", line)
        call = None
        if len(line) > 100 and m:
            try:
                call = ast.parse(line.strip()).body[0].value
            except SyntaxError:
                call = None
        if isinstance(call, ast.Call) and call.args + call.keywords:
            indent = m.group(1)
            parameters = [ast.unparse(a) for a in call.args] + [f"{k.arg}={ast.unparse(k.value)}" if k.arg else f"**{ast.unparse(k.value)}" for k in call.keywords]
            wrapped += [f"{indent}{m.group(2)}{ast.unparse(call.func)}(", *[f"{indent}    {p}," for p in parameters], f"{indent})"]
        else:
            wrapped.append(line)
    return wrapped


def drop_unused_shape_names(lines: list[str]) -> list[str]:
    """Leave out `c_in, h_in, w_in = _chw(shape)` where nothing reads them."""
    unpack = [k for k, line in enumerate(lines) if line.strip().startswith("c_in, h_in, w_in = ")]
    rest = "\n".join(line for k, line in enumerate(lines) if k not in unpack)
    if unpack and not re.search(r"\b(c_in|h_in|w_in)\b", rest):
        return [line for k, line in enumerate(lines) if k not in unpack]
    return lines
