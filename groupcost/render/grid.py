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

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.cells import cell_len

from groupcost.render.units import wrap

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult

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

    def rendered(self, max_width: int) -> list[tuple[str, str | None]]:
        """The finished lines, each with a rich style name (or None), at most `max_width` cells when possible."""
        columns, widths = self.layout(max_width)
        out: list[tuple[str, str | None]] = []
        if self.title:
            out += [(part, "italic") for part in wrap(self.title, max(max_width, 20))]
        aligned = [self.right_aligned[i] for i in columns]
        sizes = [widths[i] for i in columns]

        def rule(left: str, fill: str, cross: str, right: str) -> None:
            out.append((left + cross.join(fill * (w + 2) for w in sizes) + right, None))

        def lines(cells: Sequence[str], bar: str, style: str | None) -> None:
            picked = [cells[i] for i in columns]
            folded = [fold(cell, w) if cell_len(cell) > w else [cell] for cell, w in zip(picked, sizes)]
            for k in range(max(len(f) for f in folded)):
                parts = (f[k] if k < len(f) else "" for f in folded)
                padded = (
                    (" " * (w - cell_len(p)) + p) if right else (p + " " * (w - cell_len(p)))
                    for p, w, right in zip(parts, sizes, aligned)
                )
                out.append((bar + " " + f" {bar} ".join(padded) + " " + bar, style))

        rule("┏", "━", "┳", "┓")
        lines(self.headers, "┃", "bold")
        rule("┡", "━", "╇", "┩")
        styles = self.row_styles or [None] * len(self.rows)
        for row, style in zip(self.rows, styles):
            lines(row, "│", style)
        if self.footer:
            rule("├", "─", "┼", "┤")
            lines(self.footer, "│", "bold")
        rule("└", "─", "┴", "┘")
        left_out = [self.headers[i] for i in range(len(self.headers)) if i not in columns]
        if left_out:
            note = f"not shown at {max_width} columns: {', '.join(left_out)} ({WIDE_HINT})"
            out += [(part, "dim") for part in wrap(note, max(max_width, 20))]
        return out

    def plain_lines(self, width: int) -> list[str]:
        return [text for text, _ in self.rendered(width)]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich.segment import Segment
        from rich.style import Style

        parsed: dict[str | None, Style | None] = {None: None}
        for text, style in self.rendered(options.max_width):
            if style not in parsed:
                parsed[style] = Style.parse(style)
            yield Segment(text + "\n", parsed[style])  # one segment a line: fast


def _longest_word(text: str) -> int:
    return max((cell_len(w) for w in text.split()), default=1)
