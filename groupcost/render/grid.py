"""A fast rich table for long listings.

rich's Table measures and renders every cell as its own renderable, ~1 ms a row here: a
200-layer network took a quarter of a second. `Grid` lays out plain-text cells itself and
yields finished lines in rich's heavy-head box style; when the grid is wider than the console
it falls back to rich's Table, which knows how to shrink columns.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment
from rich.style import Style
from rich.table import Table

BOLD = Style(bold=True)


@dataclass(frozen=True)
class Grid:
    headers: Sequence[str]
    rows: Sequence[Sequence[str]]
    right_aligned: Sequence[bool]
    footer: Sequence[str] | None = None
    title: str | None = None
    row_styles: Sequence[str | None] | None = None

    def _widths(self) -> list[int]:
        everything = [self.headers, *self.rows, *([self.footer] if self.footer else [])]
        return [max(cell_len(row[i]) for row in everything) for i in range(len(self.headers))]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        widths = self._widths()
        if sum(widths) + 3 * len(widths) + 1 > options.max_width:
            yield self._rich_table()
            return
        if self.title:
            yield Segment(self.title + "\n", Style(italic=True))

        def rule(left: str, fill: str, cross: str, right: str) -> Segment:
            return Segment(left + cross.join(fill * (w + 2) for w in widths) + right + "\n")

        def line(cells: Iterable[str], bar: str, style: Style | None) -> Segment:
            padded = (
                (" " * (width - cell_len(cell)) + cell) if right else (cell + " " * (width - cell_len(cell)))
                for cell, width, right in zip(cells, widths, self.right_aligned)
            )
            return Segment(bar + " " + f" {bar} ".join(padded) + " " + bar + "\n", style)  # one segment a line: fast

        yield rule("┏", "━", "┳", "┓")
        yield line(self.headers, "┃", BOLD)
        yield rule("┡", "━", "╇", "┩")
        styles = self.row_styles or [None] * len(self.rows)
        for row, style in zip(self.rows, styles):
            yield line(row, "│", Style.parse(style) if style else None)
        if self.footer:
            yield rule("├", "─", "┼", "┤")
            yield line(self.footer, "│", BOLD)
        yield rule("└", "─", "┴", "┘")

    def _rich_table(self) -> Table:
        table = Table(title=self.title, title_justify="left", show_footer=bool(self.footer), header_style="bold", footer_style="bold")
        for i, header in enumerate(self.headers):
            table.add_column(header, footer=self.footer[i] if self.footer else "", justify="right" if self.right_aligned[i] else "left")
        styles = self.row_styles or [None] * len(self.rows)
        for row, style in zip(self.rows, styles):
            table.add_row(*row, style=style)
        return table
