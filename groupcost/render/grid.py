"""A fast rich table that fits the console without ever cutting a cell.

rich's Table measures and renders every cell as its own renderable, ~1 ms a row here, and when
it is narrower than its content it cuts cells with an ellipsis (`118… M`). `Grid` lays out
plain-text cells itself and yields finished lines in rich's heavy-head box style. When the
table is wider than the console it first wraps text columns (names break after `.`, `_` or
`×`), then leaves out columns of low priority, naming them in a note below the table; a number
is never cut or wrapped. Only if even that cannot fit (a console narrower than about 60
columns) are lines left longer than the console, never cropped.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment
from rich.style import Style

BOLD = Style(bold=True)
DIM = Style(dim=True)
UNWRAPPED_DROP = 3  # columns of this priority or higher are left out before any text wraps
SOFT_MIN = 16  # text columns wrap to this before more columns are left out
HARD_MIN = 6
BREAKS = (" ", "._-/", "×,")  # preferred first: between words, then after a name's separators, then inside a shape
WIDE_HINT = "--wide shows every column; --format csv or json has every figure"


def fold(text: str, width: int) -> list[str]:
    """`text` in lines of at most `width` cells, broken after a separator where one is near."""
    lines = []
    while cell_len(text) > width:
        cut = next((i for group in BREAKS for i in range(width, max(width // 2, 1) - 1, -1) if text[i - 1] in group), width)
        lines.append(text[:cut].rstrip(" "))
        text = text[cut:]
    return [*lines, text]


def _fill(widths: dict[int, int], natural: dict[int, int], room: int) -> dict[int, int]:
    """Give text columns `room` cells in all, each at most its natural width, the widest shrunk first."""
    result = dict(natural)
    while sum(result.values()) > room:
        widest = max(result, key=lambda i: result[i])
        if result[widest] <= widths[widest]:
            break
        result[widest] -= 1
    return result


@dataclass(frozen=True)
class Grid:
    headers: Sequence[str]
    rows: Sequence[Sequence[str]]
    right_aligned: Sequence[bool]
    footer: Sequence[str] | None = None
    title: str | None = None
    row_styles: Sequence[str | None] | None = None
    priorities: Sequence[int] | None = None  # 0: always shown; higher numbers are left out first
    wrap: Sequence[bool] | None = None  # text columns that may wrap (default: those not right-aligned)

    def _natural(self) -> list[int]:
        everything = [self.headers, *self.rows, *([self.footer] if self.footer else [])]
        return [max(cell_len(row[i]) for row in everything) for i in range(len(self.headers))]

    def layout(self, max_width: int) -> tuple[list[int], dict[int, int]]:
        """(the columns shown, their widths): text wrapped first, then low-priority columns left out."""
        natural = self._natural()
        n = len(self.headers)
        priorities = list(self.priorities or [0] * n)
        wraps = list(self.wrap) if self.wrap is not None else [not r for r in self.right_aligned]
        shown = list(range(n))

        def widths_for(columns: list[int], floor: int | None) -> dict[int, int] | None:
            fixed = sum(natural[i] for i in columns if not wraps[i]) + 3 * len(columns) + 1
            text = {i: natural[i] for i in columns if wraps[i]}
            minimum = {i: natural[i] if floor is None else min(natural[i], max(floor, _longest_word(self.headers[i]))) for i in text}
            if fixed + sum(minimum.values()) > max_width:
                return None
            return {**{i: natural[i] for i in columns}, **_fill(minimum, text, max_width - fixed)}

        droppable = sorted((i for i in range(n) if priorities[i] > 0), key=lambda i: (-priorities[i], -i))
        # first leave out only the least useful columns without wrapping anything, then wrap text and leave out more
        for floor, lowest in ((None, UNWRAPPED_DROP), (SOFT_MIN, 1), (HARD_MIN, 1)):
            columns = list(shown)
            for candidate in [None, *(i for i in droppable if priorities[i] >= lowest)]:
                if candidate is not None:
                    columns.remove(candidate)
                widths = widths_for(columns, floor)
                if widths is not None:
                    return columns, widths
        return [i for i in shown if priorities[i] == 0], {i: natural[i] for i in shown}  # too narrow: overflow, never crop

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        columns, widths = self.layout(options.max_width)
        if self.title:
            for part in textwrap.wrap(self.title, max(options.max_width, 20)) or [""]:
                yield Segment(part + "\n", Style(italic=True))
        aligned = [self.right_aligned[i] for i in columns]
        sizes = [widths[i] for i in columns]

        def rule(left: str, fill: str, cross: str, right: str) -> Segment:
            return Segment(left + cross.join(fill * (w + 2) for w in sizes) + right + "\n")

        def lines(cells: Sequence[str], bar: str, style: Style | None) -> Iterable[Segment]:
            picked = [cells[i] for i in columns]
            folded = [fold(cell, w) if cell_len(cell) > w else [cell] for cell, w in zip(picked, sizes)]
            for k in range(max(len(f) for f in folded)):
                parts = (f[k] if k < len(f) else "" for f in folded)
                padded = (
                    (" " * (w - cell_len(p)) + p) if right else (p + " " * (w - cell_len(p)))
                    for p, w, right in zip(parts, sizes, aligned)
                )
                yield Segment(bar + " " + f" {bar} ".join(padded) + " " + bar + "\n", style)  # one segment a line: fast

        yield rule("┏", "━", "┳", "┓")
        yield from lines(self.headers, "┃", BOLD)
        yield rule("┡", "━", "╇", "┩")
        styles = self.row_styles or [None] * len(self.rows)
        for row, style in zip(self.rows, styles):
            yield from lines(row, "│", Style.parse(style) if style else None)
        if self.footer:
            yield rule("├", "─", "┼", "┤")
            yield from lines(self.footer, "│", BOLD)
        yield rule("└", "─", "┴", "┘")
        left_out = [self.headers[i] for i in range(len(self.headers)) if i not in columns]
        if left_out:
            note = f"not shown at {options.max_width} columns: {', '.join(left_out)} ({WIDE_HINT})"
            for part in textwrap.wrap(note, max(options.max_width, 20)):
                yield Segment(part + "\n", DIM)


def _longest_word(text: str) -> int:
    return max((cell_len(w) for w in text.split()), default=1)
