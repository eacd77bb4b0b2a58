"""Human units, applied only at the edge: counts in powers of 1000, bytes in powers of 1024."""

from __future__ import annotations

import re
import textwrap

NO_BREAK = "\u00a0"
# the space between a figure and its unit ("563 MiB", "90.6 µs", "11.34 TFLOP/s"): never a line break
_UNIT_JOIN = re.compile(r"(?<=\d) (?=(?:[KMGTP]i?B|B|[KMGTP]|s|ms|µs|ns|TFLOP/s|GB/s|elements)(?![\w/]))")


def count(n: int) -> str:
    """25_028_904 -> '25.03 M'; small numbers stay exact; past 1000 P, more digits of P."""
    for factor, suffix in ((10**15, "P"), (10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "K")):
        if abs(n) >= factor:
            return f"{n / factor:.2f} {suffix}"
    return str(n)


def size(n_bytes: int) -> str:
    """1_048_576 -> '1.00 MiB', 40_448_000 -> '38.6 MiB', 1_036_288 -> '1012 KiB' (three or four digits);
    up to PiB, past 1024 PiB more digits of PiB."""
    value = float(n_bytes)
    for suffix in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(value) < 1024 or suffix == "PiB":
            if suffix == "B":
                return f"{n_bytes} B"
            return f"{value:.{2 if abs(value) < 10 else 1 if abs(value) < 100 else 0}f} {suffix}"
        value /= 1024
    raise AssertionError("unreachable")


def shape(dims: tuple[int, ...]) -> str:
    return "×".join(map(str, dims))


def share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def seconds(value: float | None) -> str:
    """An estimate in s, ms or µs with three significant digits."""
    if value is None:
        return "-"
    for factor, suffix in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs")):
        if value >= factor:
            return f"{value / factor:.3g} {suffix}"
    return f"{value * 1e9:.3g} ns"


def percent(fraction: float) -> str:
    """0.9486 -> '94.86%': shares to two decimals, as the papers print them."""
    return f"{100 * fraction:.2f}%"


def csv_value(value) -> str:
    """One CSV cell: shapes as 64x56x56 (several joined by ';'), booleans true/false, None empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return ";".join(f"{k}={csv_value(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        if all(isinstance(v, int) and not isinstance(v, bool) for v in value) and value:
            return "x".join(map(str, value))
        return ";".join(csv_value(v) for v in value)
    return str(value).replace("×", "x")  # ASCII: kinds read 'standard 3x3' as shapes read 64x56x56


def csv_text(fields, rows) -> str:
    """A CSV document: `fields` as the header, then each dict of `rows` (missing fields empty)."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(fields)
    for row in rows:
        writer.writerow([csv_value(row.get(f)) for f in fields])
    return out.getvalue()


def markdown_table(header, right_aligned, rows) -> list[str]:
    """A GitHub Markdown table; `|` in a cell escaped."""
    def line(cells) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    return [line(header), "| " + " | ".join("---:" if r else ":---" for r in right_aligned) + " |", *(line(r) for r in rows)]


def wrap(text: str, width: int) -> list[str]:
    """`text` in lines of at most `width` cells, broken between words but never between a number and its unit."""
    joined = _UNIT_JOIN.sub(NO_BREAK, text)
    lines = textwrap.wrap(joined, max(width, 1), break_on_hyphens=False, break_long_words=False)
    return [line.replace(NO_BREAK, " ") for line in lines] or [""]
