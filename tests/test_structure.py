"""The shape of the code, checked from its source with `ast` (nothing is imported or run): no import
circles among groupcost's modules (imports inside functions counted), no module over 600 lines, and
no test that reads a path outside the repository."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "groupcost"
TESTS = ROOT / "tests"
MAX_LINES = 600
PATH_CALLS = {"Path", "PurePath", "open", "join"}  # calls whose string arguments are paths


# ---- the package's import graph ------------------------------------------------------------------


def modules() -> dict[str, Path]:
    """Dotted name → file, for every module of the package (a package is its __init__.py)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules that `name` imports anywhere in its file, inside functions included."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in known}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            source = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:  # `from a import b` imports module a.b where there is one, else a
                found |= {f"{source}.{alias.name}"} if f"{source}.{alias.name}" in known else {source} & known.keys()
    return found


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of two or more modules that each import one another, directly or through others."""

    def reachable(start: str) -> set[str]:
        seen, todo = set(), list(graph[start])
        while todo:
            module = todo.pop()
            if module not in seen:
                seen.add(module)
                todo.extend(graph[module])
        return seen

    reach = {module: reachable(module) for module in graph}
    groups = {frozenset({m} | {n for n in reach[m] if m in reach[n]}) for m in graph if m in reach[m]}
    return sorted(sorted(group) for group in groups if len(group) > 1)


def test_no_import_circles():
    known = modules()
    found = circles({name: imports(name, path, known) - {name} for name, path in known.items()})
    assert not found, f"{len(found)} import circles:\n" + "\n".join(f"  {len(c)} {c}" for c in found)


def test_no_module_is_over_600_lines():
    sizes = {path.relative_to(ROOT): len(path.read_text(encoding="utf-8").splitlines()) for path in modules().values()}
    over = sorted(((lines, str(path)) for path, lines in sizes.items() if lines > MAX_LINES), reverse=True)
    assert not over, f"{len(over)} modules over {MAX_LINES} lines:\n" + "\n".join(f"  {lines:5} {path}" for lines, path in over)


# ---- tests read only inside the repository -------------------------------------------------------


def climbed(node: ast.expr, names: dict[str, int]) -> int | None:
    """How many directories `node` climbs from the test file (`Path(__file__).parent` is 1,
    `.parents[2]` 3), following names assigned such paths; None where it is not built from __file__."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Path":
        return 0 if [ast.unparse(a) for a in node.args] == ["__file__"] else None
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("resolve", "absolute"):
        return climbed(node.func.value, names)
    if isinstance(node, ast.Attribute) and node.attr == "parent":
        up = climbed(node.value, names)
        return None if up is None else up + 1
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) and node.value.attr == "parents":
        up = climbed(node.value.value, names)
        return None if up is None or not isinstance(node.slice, ast.Constant) else up + node.slice.value + 1
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        return climbed(node.left, names)
    return names.get(node.id) if isinstance(node, ast.Name) else None


def path_strings(tree: ast.AST) -> list[ast.Constant]:
    """String constants used as paths: either side of `/`, or an argument of Path(), open() or join()."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            found += [node.left, node.right]
        elif isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) in PATH_CALLS:
            found += node.args
    return [node for node in found if isinstance(node, ast.Constant) and isinstance(node.value, str)]


def leaving_paths(path: Path, root: Path = ROOT) -> list[str]:
    """What in the test source `path` names a place outside the repository `root`, one line each."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    where = path.relative_to(root)
    depth = len(where.parts)  # climbs from tests/x/test_y.py to the repository's root: 3
    names, found = {}, {}
    for node in ast.walk(tree):  # breadth first: a module's assignments before the functions that use them
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if (up := climbed(node.value, names)) is not None:
                names[node.targets[0].id] = up
        if isinstance(node, ast.expr) and not isinstance(node, ast.Name) and (up := climbed(node, names)) is not None and up > depth:
            found.setdefault(node.lineno, f"{where}:{node.lineno}: {ast.unparse(node)} climbs above the repository")
    for text in path_strings(tree):
        if text.value.startswith(("/", "~")) or ".." in Path(text.value).parts:
            found.setdefault(text.lineno, f"{where}:{text.lineno}: the path {text.value!r} leaves the repository")
    return [found[line] for line in sorted(found)]


def test_no_test_reads_outside_the_repository():
    found = [line for path in sorted(TESTS.rglob("*.py")) for line in leaving_paths(path)]
    assert not found, f"{len(found)} places where tests read outside the repository:\n" + "\n".join(f"  {line}" for line in found)


def test_the_check_catches_the_ways_out(tmp_path):
    """The forms tests once used to reach ../shared, and an absolute path, are each caught; a climb to the root is not."""
    sample = tmp_path / "tests" / "io" / "test_sample.py"
    sample.parent.mkdir(parents=True)
    sample.write_text(
        "HERE = Path(__file__).parent\n"
        "ROOT = HERE.parents[1]\n"
        "A = HERE.parents[1] / '..' / 'shared'\n"
        "B = Path(__file__).resolve().parents[3] / 'shared'\n"
        "C = open('/work/shared/x.json')\n"
        "D = ROOT.parent / 'shared'\n",
        encoding="utf-8",
    )
    assert leaving_paths(sample, tmp_path) == [
        "tests/io/test_sample.py:3: the path '..' leaves the repository",
        "tests/io/test_sample.py:4: Path(__file__).resolve().parents[3] / 'shared' climbs above the repository",
        "tests/io/test_sample.py:5: the path '/work/shared/x.json' leaves the repository",
        "tests/io/test_sample.py:6: ROOT.parent / 'shared' climbs above the repository",
    ]
