"""Human units, applied only at the edge: counts in powers of 1000, bytes in powers of 1024."""

from __future__ import annotations


def count(n: int) -> str:
    """25_028_904 -> '25.03 M'; small numbers stay exact."""
    for factor, suffix in ((10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "K")):
        if abs(n) >= factor:
            return f"{n / factor:.2f} {suffix}"
    return str(n)


def size(n_bytes: int) -> str:
    """1_048_576 -> '1.00 MiB', 40_448_000 -> '38.6 MiB', 1_036_288 -> '1012 KiB' (three or four digits)."""
    value = float(n_bytes)
    for suffix in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or suffix == "GiB":
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
