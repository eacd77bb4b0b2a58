"""The model zoo: YAML specs shipped with groupcost, addressed by name."""

from __future__ import annotations

from pathlib import Path

from groupcost.errors import Location, SpecError


def zoo_dir() -> Path:
    """Installed wheels carry the zoo as groupcost/zoo; a source checkout has it at specs/."""
    package = Path(__file__).resolve().parent.parent
    installed = package / "zoo"
    return installed if installed.is_dir() else package.parent / "specs"


def shown_path(path: Path) -> str:
    """How a spec file read by `extends:`/`use:` is named in locations: `zoo/NAME.yaml` for the zoo's
    (never the install folder), a path relative to the current folder where it is inside it."""
    resolved = path.resolve()
    if resolved.parent == zoo_dir().resolve():
        return f"zoo/{resolved.name}"
    try:
        return str(resolved.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def zoo_names() -> list[str]:
    return sorted(p.stem for p in zoo_dir().glob("*.yaml"))


def resolve_source(path_or_name: str | Path) -> Path:
    """A spec path as given, or the zoo spec of that name."""
    path = Path(path_or_name)
    if path.exists() or path.suffix in (".yaml", ".yml") or len(path.parts) > 1:
        return path
    candidate = zoo_dir() / f"{path_or_name}.yaml"
    if candidate.is_file():
        return candidate
    from difflib import get_close_matches

    close = get_close_matches(str(path_or_name), zoo_names(), n=1)
    hint = f"did you mean '{close[0]}'?" if close else "`groupcost zoo` lists the zoo's models"
    raise SpecError(f"'{path_or_name}' is neither a spec file nor a zoo model", hint, Location(str(path_or_name)))
