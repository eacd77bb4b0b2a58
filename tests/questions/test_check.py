"""Budgets: exact amounts, spec and flag budgets, verdicts, and `groupcost check` with every exit code."""

from __future__ import annotations

import json

import pytest

from groupcost.language.budgets import parse_amount, parse_fraction
from groupcost.errors import SpecError

SPEC = """\
name: tiny
input: [3, 32, 32]
vars: {width: 32}
budgets:
  params: 20K
  macs: 20M
  activation_bytes: 1MiB
  layers:
    "head*": {params: 5K}
layers:
  - conv: {out: width, k: 3, p: 1}
  - relu
  - conv: {out: width * 2, k: 3, s: 2, p: 1, groups: 2}
  - gap
  - flatten
  - fc: {name: head, out: 10}
"""
# By hand at width 32: conv 3→32 3×3 = 864 + 32 bias; conv 32→64 3×3 G=2 = 64·16·9 = 9,216 + 64; fc 64→10 = 650.
PARAMS_32 = 896 + 9_280 + 650
# MACs: 864·32·32 + 9,216·16·16 + 640 = 884,736 + 2,359,296 + 640.
MACS_32 = 3_244_672


@pytest.mark.parametrize(
    ("text", "metric", "expected"),
    [
        ("5M", "params", 5_000_000),
        ("4.1G", "macs", 4_100_000_000),
        ("600K", "macs", 600_000),
        ("1_000", "params", 1_000),
        (1234, "params", 1234),
        ("64MiB", "activation_bytes", 64 * 2**20),
        ("2GiB", "traffic_bytes", 2 * 2**30),
        ("500MB", "weight_bytes", 500_000_000),
        ("1.5KiB", "activation_bytes", 1536),
        ("10M", "traffic_bytes", 10_000_000),
        ("0.1K", "params", 100),
    ],
)
def test_amounts_are_exact(text, metric, expected):
    assert parse_amount(text, metric) == expected


@pytest.mark.parametrize(
    ("text", "metric", "message"),
    [
        ("5x", "params", "cannot read '5x'"),
        ("5MiB", "params", "is in bytes, but params is a count"),
        ("1.5", "params", "not a whole number"),
        ("0.0001K", "params", "not a whole number"),
        ("-5M", "params", "cannot read"),
        (-5, "macs", "must not be negative"),
        (True, "macs", "expected an amount"),
        ("", "macs", "cannot read"),
    ],
)
def test_bad_amounts(text, metric, message):
    with pytest.raises(SpecError, match=message):
        parse_amount(text, metric)


def test_fractions():
    assert parse_fraction("90%") == pytest.approx(0.9) and parse_fraction("0.5") == 0.5
    for bad in ("0", "120%", "x"):
        with pytest.raises(SpecError):
            parse_fraction(bad)


def test_check_within_budget(cli, write_spec):
    result = cli("check", write_spec(SPEC), "--format", "json")
    assert result.exit_code == 0, result.stderr
    verdicts = {(b["metric"], b["scope"]): b for b in json.loads(result.stdout)["specs"][0]["budgets"]}
    assert verdicts[("params", None)]["value"] == PARAMS_32
    assert verdicts[("macs", None)]["value"] == MACS_32
    assert verdicts[("params", "head*")]["value"] == 650
    assert verdicts[("params", None)]["location"]["line"] == 5


def test_check_over_budget_names_metric_value_budget_and_excess(cli, write_spec):
    path = write_spec(SPEC)
    result = cli("check", path, "--set", "width=64", "--warn-at", "10%")
    assert result.exit_code == 1
    params_64 = 1_792 + 36_992 + 1_290  # 3→64 + bias; 64→128 G=2 (128·32·9 + 128); fc 128→10
    assert f"tiny: params is {params_64:,}, over the budget of 20K (20,000) by {params_64 - 20_000:,} ({(params_64 - 20_000) / 20_000:.1%})" in result.stdout
    assert "tiny: params of head* is 1,290, 25.8% of the budget of 5K" in result.stdout  # warned, not failed


def test_check_github_points_at_the_budget_line(cli, write_spec):
    path = write_spec(SPEC)
    result = cli("check", path, "--set", "width=64", "--format", "github")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"::error file={path},line=5,col=11,title=groupcost budget%3A tiny::params is 40,074, over the budget of 20K")
    assert lines[-1] == "1 spec(s), 4 budget(s): 1 over, 0 close, 3 within"  # MACs 11,207,936 < 20M


def test_flag_budgets_point_at_the_spec_and_override(cli, write_spec):
    path = write_spec(SPEC)
    result = cli("check", path, "--max-params", "10K", "--format", "github")
    assert result.exit_code == 1
    assert result.stdout.startswith(f"::error file={path},line=1,col=1,")
    assert cli("check", path, "--max-params", "1M").exit_code == 0  # the flag replaces the spec's 20K


def test_check_several_specs_and_globs(cli, tmp_path, write_spec):
    write_spec(SPEC, "a.yaml")
    write_spec(SPEC.replace("width: 32", "width: 64"), "b.yaml")
    result = cli("check", str(tmp_path / "*.yaml"), "--format", "markdown")
    assert result.exit_code == 1
    assert result.stdout.startswith("### ❌ groupcost budgets")
    assert "2 spec(s), 8 budget(s): 1 over" in result.stdout
    assert cli("check", str(tmp_path / "a.yaml"), "resnet18", "--max-macs", "4.1G").exit_code == 0


def test_markdown_ok(cli, write_spec):
    result = cli("check", write_spec(SPEC), "--format", "markdown")
    assert result.stdout.startswith("### ✅ groupcost budgets") and "| tiny | params | 10.83 K | 20.00 K | 54.1% | ✅ |" in result.stdout


@pytest.mark.parametrize(
    ("args", "prefix"),
    [
        (["resnet18"], "resnet18:1:1: error: no budgets to check"),
        (["resnet18", "--max-params", "5 M B"], "--max-params:1:1: error: params budget: cannot read"),
        (["resnet18", "--max-params", "5MiB"], "--max-params:1:1: error: params budget: '5MiB' is in bytes"),
        (["resnet18", "--max-macs", "1G", "--warn-at", "150%"], "--warn-at:1:1: error: '150%' is not between 0 and 100%"),
        (["nope/*.yaml", "--max-macs", "1G"], "nope/*.yaml:1:1: error: 'nope/*.yaml' matches no file"),
    ],
)
def test_check_bad_input(cli, args, prefix):
    result = cli("check", *args)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith(prefix) and result.stderr.count("\n") == 1, result.stderr


@pytest.mark.parametrize(
    ("budgets", "where", "fragment"),
    [
        ("  parms: 5M\n", "5:3", "unknown budget metric 'parms' (did you mean 'params'?)"),
        ("  params: 5 apples\n", "5:11", "params budget: cannot read '5 apples'"),
        ("  layers:\n    nothing: {params: 1K}\n", "6:23", "budget for 'nothing' matches no layer"),
        ("  layers:\n    fc: {macs: 1KiB}\n", "6:16", "macs budget: '1KiB' is in bytes"),
        ("  - 5M\n", "5:3", "budgets must be a mapping"),
    ],
)
def test_malformed_budgets_are_located(cli, write_spec, budgets, where, fragment):
    text = "name: t\ninput: [3, 8, 8]\nlayers: [flatten, fc: {out: 2}]\nbudgets:\n" + budgets
    path = write_spec(text)
    result = cli("check", path)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{path}:{where}: error: {fragment}"), result.stderr
