"""Acceptance: every malformed spec in tests/bad_specs/ ends in exactly one located line on stderr,
`path:line:col: error: ...`, and exit code 2 — never a traceback, never a number on stdout.

Each file's first line says what to expect: `# expect: LINE:COL message fragment`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

INVALID = sorted((Path(__file__).parents[1] / "bad_specs").glob("*.yaml"))
EXPECT = re.compile(r"# expect: (\d+):(\d+) (.+)")


def expectation(path: Path) -> tuple[int, int, str]:
    match = EXPECT.match(path.read_text(encoding="utf-8").splitlines()[0])
    assert match, f"{path.name} lacks an '# expect: LINE:COL fragment' first line"
    return int(match[1]), int(match[2]), match[3]


def assert_one_located_error(result, path: str, line: int, column: int, fragment: str) -> None:
    assert result.exit_code == 2, result.stdout + result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"{path}:{line}:{column}: error: "), lines[0]
    assert fragment in lines[0]


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_invalid_spec(cli, path):
    line, column, fragment = expectation(path)
    assert_one_located_error(cli("analyze", path), str(path), line, column, fragment)


def test_corpus_is_large_enough():
    assert len(INVALID) >= 60


def test_missing_file(cli, tmp_path):
    path = tmp_path / "nope.yaml"
    assert_one_located_error(cli("analyze", path), str(path), 1, 1, "no such file")


def test_directory(cli, tmp_path):
    assert_one_located_error(cli("analyze", tmp_path / "dir.yaml"), str(tmp_path / "dir.yaml"), 1, 1, "no such file")
    assert_one_located_error(cli("analyze", tmp_path), str(tmp_path), 1, 1, "is a directory")


def test_not_utf8(cli, tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("input: [3, 8, 8]\nname: caf\u00e9\n".encode("latin-1"))
    assert_one_located_error(cli("analyze", path), str(path), 2, 10, "file is not valid UTF-8")


def test_unknown_zoo_name_suggests(cli):
    assert_one_located_error(cli("analyze", "resnet51"), "resnet51", 1, 1, "did you mean 'resnet50'?")


def test_set_unknown_variable(cli):
    assert_one_located_error(cli("analyze", "resnext50_32x4d", "--set", "groups=8"), "--set", 1, 1, "has no variable 'groups' (its variables: depths, G, width_per_group)")


def test_set_illegal_value_is_located_in_the_spec(cli):
    """G=3 does not divide conv2's 256 filters: the error points at `groups: G` in the spec."""
    spec_lines = (Path(__file__).parents[2] / "specs" / "alexnet_2gpu.yaml").read_text().splitlines()
    line = next(n for n, text in enumerate(spec_lines, 1) if "name: conv2" in text)
    column = spec_lines[line - 1].index("groups: G") + len("groups: ") + 1
    result = cli("analyze", "alexnet_2gpu", "--set", "G=3")
    assert result.exit_code == 2
    assert result.stderr == (  # a zoo model is named by its zoo name, not the path it is installed at
        f"alexnet_2gpu:{line}:{column}: error: conv2 (conv): groups=3 does not divide C_out=256 (legal G here: 1, 2, 4, 8, 16, 32)\n"
    )


@pytest.mark.parametrize("value", ["G", "G=", "=3", "G=3+", "G=abc", "1G=2"])
def test_set_malformed(cli, value):
    result = cli("analyze", "resnext50_32x4d", "--set", value)
    assert result.exit_code == 2
    assert re.fullmatch(r"--set:1:\d+: error: [^\n]+\n", result.stderr), result.stderr
