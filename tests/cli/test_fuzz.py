"""Fuzzing: mutated zoo specs, random YAML documents and random command-line values must either
work or end in exit 2 with one located line on stderr — never a traceback, never a hang.

Each test runs GROUPCOST_FUZZ_EXAMPLES examples (default 60); the README gives a longer run.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from groupcost.cli.app import run

ROOT = Path(__file__).parents[2]
ZOO = {p.stem: p.read_text(encoding="utf-8") for p in sorted((ROOT / "specs").glob("*.yaml"))}
EXAMPLES = int(os.environ.get("GROUPCOST_FUZZ_EXAMPLES", "60"))
ONE_ERROR_LINE = re.compile(r"[^\n]+:\d+:\d+: error: [^\n]+\n")
# The same examples every CI run (a failure there must be reproducible); a long local run explores afresh.
FUZZ = settings(max_examples=EXAMPLES, deadline=10_000, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
                derandomize="GROUPCOST_FUZZ_EXAMPLES" not in os.environ)

NUMBERS = ["0", "-1", "1", "3", "7", "1000000000", "2.5", "-0.5", "1e400", "x", "G", "''", "null", "[]", "{}", "9 ** 99", "2**62"]
FRAGMENTS = ["{", "}", "[", "]", ": ", "- ", "&a ", "*a", "!!python/object ", "!!binary ", "\t", "%", "'", '"', "\n  ", "\n- relu\n", "<<: ", "#"]


@st.composite
def mutated_specs(draw) -> str:
    name = draw(st.sampled_from(sorted(ZOO)))
    text = ZOO[name]
    for _ in range(draw(st.integers(1, 3))):
        lines = text.splitlines()
        kind = draw(st.sampled_from(["number", "number", "delete", "duplicate", "insert", "truncate"]))
        numbers = [m.span() for m in re.finditer(r"(?<![\w.])\d+(?![\w.])", text)]
        if kind == "number" and numbers:
            start, end = draw(st.sampled_from(numbers))
            text = text[:start] + draw(st.sampled_from(NUMBERS)) + text[end:]
        elif kind == "delete" and len(lines) > 1:
            i = draw(st.integers(0, len(lines) - 1))
            text = "\n".join(lines[:i] + lines[i + 1 :])
        elif kind == "duplicate" and lines:
            i = draw(st.integers(0, len(lines) - 1))
            text = "\n".join(lines[: i + 1] + lines[i:])
        elif kind == "insert":
            i = draw(st.integers(0, len(text)))
            text = text[:i] + draw(st.sampled_from(FRAGMENTS)) + text[i:]
        else:
            text = text[: draw(st.integers(0, len(text)))]
    return text


KEYS = ["input", "layers", "vars", "blocks", "defaults", "budgets", "batch", "dtype", "name", "conv", "out", "k", "s", "p", "d",
        "groups", "bias", "repeat", "n", "residual", "body", "shortcut", "parallel", "branches", "split", "merge", "fc", "bn",
        "relu", "gap", "flatten", "dwsep", "gdc", "se", "squeeze", "shuffle", "if", "when", "params", "macs", "G", "zz"]
SCALARS = st.one_of(st.integers(-3, 300), st.sampled_from(KEYS), st.booleans(), st.none(), st.floats(allow_nan=False, allow_infinity=False, width=32),
                    st.sampled_from(["G * 2", "c_in", "same", "valid", "5M", "1/0", "2 ** 70", "relu"]))
DOCUMENTS = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)), max_leaves=25)


@st.composite
def random_documents(draw) -> str:
    document = draw(st.dictionaries(st.sampled_from(KEYS), DOCUMENTS, max_size=5))
    if draw(st.booleans()):
        document.setdefault("input", [3, 16, 16])
        document.setdefault("layers", draw(st.lists(DOCUMENTS, min_size=1, max_size=4)))
    return yaml.safe_dump(document, allow_unicode=True)


def invoke(capsys, *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        run(list(argv))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def assert_clean(code: int, err: str, context: str) -> None:
    assert code in (0, 1, 2), f"exit {code}: {err}\n{context}"
    if code == 2:
        assert ONE_ERROR_LINE.fullmatch(err), f"not one located error line: {err!r}\n{context}"
    assert "Traceback" not in err, f"{err}\n{context}"


def commands(path: Path, text: str) -> list[list[str]]:
    variable = re.search(r"^vars:\s*\n\s+(\w+):", text, flags=re.M)
    sweep = ["--vary", f"{variable[1]}=1,2"] if variable else ["--layer", "0", "--g", "1,2"]
    return [["analyze", str(path)], ["compare", str(path), "--g", "2"], ["whatif", str(path), *sweep], ["check", str(path), "--max-params", "1G"]]


def run_every_command(folder: Path, capsys, text: str) -> None:
    path = folder / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    for argv in commands(path, text):
        code, _, err = invoke(capsys, *argv)
        assert_clean(code, err, f"{' '.join(argv)}\n{text}")


@FUZZ
@given(text=mutated_specs())
def test_mutated_zoo_specs(tmp_path_factory, capsys, text):
    run_every_command(tmp_path_factory.mktemp("fuzz"), capsys, text)


@FUZZ
@given(text=random_documents())
def test_random_documents(tmp_path_factory, capsys, text):
    run_every_command(tmp_path_factory.mktemp("fuzz"), capsys, text)


VALUES = st.one_of(st.text(max_size=12), st.sampled_from(["64,56,56", "3", "0", "-1", "1,2,4,dw", "same", "2x3", "1,0", "9" * 30, ",", "G=", "=", "G=1,2"]))


@FUZZ
@given(shape=VALUES, k=VALUES, p=VALUES, g=VALUES, out=VALUES)
def test_layer_command_values(capsys, shape, k, p, g, out):
    code, _, err = invoke(capsys, "layer", shape, "--out", out, "-k", k, "-p", p, "--g", g)
    assert_clean(code, err, f"layer {shape!r} --out {out!r} -k {k!r} -p {p!r} --g {g!r}")


@FUZZ
@given(set_=VALUES, vary=VALUES, budget=VALUES, rule=VALUES)
def test_sweep_and_budget_values(capsys, set_, vary, budget, rule):
    for argv in (
        ["analyze", "resnext50_32x4d", "--set", set_],
        ["whatif", "resnext50_32x4d", "--vary", vary],
        ["check", "resnet18", "--max-macs", budget, "--warn-at", rule],
        ["diff", "resnet18", "resnet50", "--fail-on-increase", rule],
    ):
        code, _, err = invoke(capsys, *argv)
        assert_clean(code, err, repr(argv))
