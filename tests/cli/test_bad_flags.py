"""The bad-input corpus of the command line's flags: each case ends in exactly one located line on
stderr, at the flag that is wrong (not in the spec), and exit code 2; never a traceback."""

from __future__ import annotations

import json

import pytest

ACT_SPEC = """\
name: actnet
input: [3, 16, 16]
vars:
  act: relu
  G: 2
  depths: [1, 2]
layers:
  - conv: {out: 8, k: 3}
  - "{act}"
  - repeat: {n: "depths[1]", layers: [conv: {out: 8, k: 3, p: 1, groups: G}]}
"""


def run(capsys, argv):
    from groupcost.cli.app import run as run_app

    with pytest.raises(SystemExit) as exit_info:
        run_app([str(a) for a in argv])
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def assert_one_line(capsys, argv, line):
    code, out, err = run(capsys, argv)
    assert (code, out) == (2, ""), err
    assert "Traceback" not in err and err.count("\n") == 1, err
    assert err == line if line.endswith("\n") else err.startswith(line), err


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        # an input of another rank than the spec's (resnet18 is C,H,W), for every command taking --input
        (["analyze", "resnet18", "--input", "3,224"],
         "--input:1:1: error: --input 3,224 has 2 numbers; resnet18's input is [C, H, W], 3 numbers (the same rank, other sizes: e.g. --input 3,160,160)\n"),
        (["analyze", "resnet18", "--input", "3,16,112,112"], "--input:1:1: error: --input 3,16,112,112 has 4 numbers; resnet18's input is [C, H, W]"),
        (["compare", "resnet18", "--input", "3,224"], "--input:1:1: error: --input 3,224 has 2 numbers"),
        (["whatif", "resnet18", "--layer", "conv1", "--g", "1", "--input", "3,224"], "--input:1:1: error: --input 3,224 has 2 numbers"),
        (["verify", "resnet18", "--input", "3,224"], "--input:1:1: error: --input 3,224 has 2 numbers"),
        (["diff", "resnet18", "resnet18", "--input", "3,224"], "--input:1:1: error: --input 3,224 has 2 numbers"),
        (["report", "resnet18", "-o", "-", "--input", "3,224"], "--input:1:1: error: --input 3,224 has 2 numbers"),
        (["export", "resnet18", "--to", "pytorch", "-o", "-", "--input", "3,224"], "--input:1:1: error: --input 3,224 has 2 numbers"),
        # the flag's value, not the spec, is at fault
        (["analyze", "resnext50_32x4d", "--set", "G=0"],
         "--set:1:3: error: G=0 is not a value resnext50_32x4d takes: pwconv out: expected a positive number, got 0 (G is 32 in the spec)\n"),
        (["analyze", "resnet18", "--batch", "100000000000"],
         "--batch:1:1: error: batch 100000000000 makes a tensor of more than 2^40 elements (input 3×224×224) (groupcost's bound on one tensor)\n"),
        (["analyze", "resnet18", "--input", "3,2000000,2000000"],
         "--input:1:1: error: an input of 3×2000000×2000000 has more than 2^40 elements (groupcost's bound on one tensor)\n"),
        (["analyze", "resnext50_32x4d", "--set", "G=abc"], "--set:1:3: error: undefined variable 'abc' (G takes a number, e.g. --set G=32)\n"),
        (["whatif", "resnext50_32x4d", "--vary", "G=1,'x'"], "--vary:1:3: error: G takes a number, as its default 32 is; got 'x' (e.g. --vary G=32)\n"),
        (["report", "resnext50_32x4d", "--vary", "G=1,x", "-o", "-"], "--vary:1:5: error: undefined variable 'x' (G takes a number, e.g. --vary G=32)\n"),
        # a varied number the spec refuses, where its own value is positive: the flag's fault, at the value's column
        (["whatif", "resnext50_32x4d", "--vary", "G=1,0"],
         "--vary:1:5: error: G=0 is not a value resnext50_32x4d takes: pwconv out: expected a positive number, got 0 (G is 32 in the spec)\n"),
        (["whatif", "alexnet_2gpu", "--vary", "G=-2", "--layer", "conv1", "--g", "1"],
         "--vary:1:3: error: G=-2 is not a value alexnet_2gpu takes: conv groups: expected a positive number, got -2 (G is 2 in the spec)\n"),
        (["report", "resnext50_32x4d", "--vary", "G=2,0", "-o", "-"], "--vary:1:5: error: G=0 is not a value resnext50_32x4d takes"),
        (["analyze", "resnet18", "--set", "depths=2"], "--set:1:8: error: depths takes a list, as its default [2, 2, 2, 2] is; got 2 (e.g. --set depths=[2,2,2,2])\n"),
    ],
)
def test_flag_errors(capsys, argv, line):
    assert_one_line(capsys, argv, line)


def test_set_takes_every_kind_of_value(cli, write_spec):
    """Strings (bare or quoted), lists and numbers, as the API's groupcost.load(path, act="gelu") takes them."""
    import groupcost

    path = write_spec(ACT_SPEC)
    for value in ("act=gelu", "act='gelu'", 'act="gelu"'):
        result = cli("analyze", path, "--set", value, "-f", "json")
        assert result.exit_code == 0, result.stderr
        assert [layer["type"] for layer in json.loads(result.stdout)["layers"]][1] == "gelu"
    assert json.loads(cli("analyze", path, "--set", "act=gelu", "-f", "json").stdout)["totals"] == groupcost.to_dict(
        groupcost.analyze(groupcost.load(path, act="gelu")))["totals"]
    # depths=[1, 1]: one grouped conv of 8×(8/2)×3×3 weights + 8 biases... counted against the formula, not groupcost
    one = json.loads(cli("analyze", path, "--set", "depths=[1,1]", "-f", "json").stdout)
    two = json.loads(cli("analyze", path, "-f", "json").stdout)
    assert len(two["layers"]) - len(one["layers"]) == 1
    result = cli("analyze", path, "--set", "act=3")
    assert (result.exit_code, result.stderr) == (2, "--set:1:5: error: act takes a string, as its default 'relu' is; got 3 (e.g. --set act=relu)\n")


def test_vary_takes_every_kind_of_value(cli, write_spec):
    path = write_spec(ACT_SPEC)
    result = cli("whatif", path, "--vary", "act=relu,gelu", "-f", "json")
    assert result.exit_code == 0, result.stderr
    assert "act=gelu" in result.stdout
    result = cli("whatif", path, "--vary", "depths=[1,1],[1,3]", "-f", "json")
    assert result.exit_code == 0, result.stderr
    assert "depths=[1, 3]" in result.stdout


def test_set_zero_where_the_spec_takes_it(cli, write_spec):
    """A variable the spec allows at 0 (padding) is not refused: only a failing build is blamed on the flag."""
    path = write_spec("input: [3, 8, 8]\nvars: {pad: 1}\nlayers:\n  - conv: {out: 4, k: 3, p: pad}\n")
    result = cli("analyze", path, "--set", "pad=0", "-f", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["layers"][0]["out_shape"] == [4, 6, 6]  # (8 - 3) + 1


# ---- default file names stay in the current folder -------------------------------------------


@pytest.mark.parametrize("name", ["../escape", "ABSOLUTE", "sub/dir", "..", ".hidden", "a\\\\b"])
@pytest.mark.parametrize(("argv", "suffix"), [(["report"], ".html"), (["export", "--to", "pytorch"], ".py"), (["export", "--to", "onnx"], ".onnx")])
def test_a_spec_name_never_writes_outside_the_folder(cli, tmp_path, monkeypatch, name, argv, suffix):
    """A spec's `name:` gives the default file name: one that is not a plain file name is refused, at `name:`."""
    work = tmp_path / "work"
    work.mkdir()
    name = str(tmp_path / "escape") if name == "ABSOLUTE" else name  # an absolute path outside the folder
    monkeypatch.chdir(work)
    (work / "spec.yaml").write_text(f"name: {json.dumps(name)}\ninput: [3, 8, 8]\nlayers:\n  - conv: {{out: 4, k: 3}}\n", encoding="utf-8")
    before = sorted(p for p in tmp_path.rglob("*"))
    result = cli(argv[0], "spec.yaml", *argv[1:])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == (f"spec.yaml:1:7: error: name {name!r} is not a plain file name, and the default NAME{suffix} is written in the "
                             f"current folder only (give the file to write with -o, e.g. -o model{suffix})\n")
    assert sorted(p for p in tmp_path.rglob("*")) == before
    assert not (tmp_path / f"escape{suffix}").exists()


def test_a_plain_name_is_written_here(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "spec.yaml").write_text("name: my-net_2\ninput: [3, 8, 8]\nlayers:\n  - conv: {out: 4, k: 3}\n", encoding="utf-8")
    assert cli("report", "spec.yaml").exit_code == 0 and (tmp_path / "my-net_2.html").is_file()
    assert cli("export", "spec.yaml", "--to", "pytorch").exit_code == 0 and (tmp_path / "my-net_2.py").is_file()


# ---- export and report take --input and --batch ---------------------------------------------


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["export", "resnet18", "--to", "onnx", "--seed", "-1", "-o", "x.onnx"],
         "--seed:1:1: error: Invalid value for '--seed': -1 is not in the range 0<=x<=4294967295. (see `groupcost export --help`)\n"),
        (["export", "resnet18"], "--to:1:1: error: missing option '--to' (--to pytorch or --to onnx)\n"),
    ],
)
def test_export_flag_errors(capsys, tmp_path, monkeypatch, argv, line):
    monkeypatch.chdir(tmp_path)
    assert_one_line(capsys, argv, line)
    assert list(tmp_path.iterdir()) == []


def test_export_onnx_seed_out_of_range_in_the_api(tmp_path):
    import groupcost
    from groupcost.errors import UsageError

    with pytest.raises(UsageError, match="seed must be a whole number from 0 to 2"):
        groupcost.api.export_onnx("resnet18", tmp_path / "x.onnx", seed=-1)


def test_report_at_another_input_and_batch(cli, tmp_path):
    """PyTorch: torchvision resnet50 at 1×3×160×160 has 2,087,321,600 MACs (as test_cli's --input test)."""
    result = cli("report", "resnet50", "--input", "3,160,160", "--batch", "2", "-o", "-")
    assert result.exit_code == 0, result.stderr
    assert f"{2 * 2_087_321_600:,}" in result.stdout and "3×160×160" in result.stdout


def test_report_and_export_a_torch_factory(cli, tmp_path):
    pytest.importorskip("torch")
    result = cli("report", "torch:torch_factories:tiny", "--input", "3,32,32", "-o", tmp_path / "tiny.html")
    assert result.exit_code == 0, result.stderr
    assert "<!DOCTYPE html>" in (tmp_path / "tiny.html").read_text(encoding="utf-8")
    result = cli("export", "torch:torch_factories:tiny", "--input", "3,32,32", "--to", "pytorch", "-o", "-")
    assert result.exit_code == 0 and "import torch" in result.stdout


def test_export_pytorch_at_another_input_runs_there(cli, tmp_path):
    """The file written at --input 3,64,64 is the graph resolved there: torch runs it at 1×3×64×64."""
    torch = pytest.importorskip("torch")
    from groupcost.formats.torch.export import load_module

    result = cli("export", "resnet18", "--to", "pytorch", "--input", "3,64,64", "-o", tmp_path / "r.py")
    assert result.exit_code == 0, result.stderr
    assert "note: wrote the resolved graph" in result.stderr and "--input 3,64,64 is not the spec's input" in result.stderr
    module = load_module((tmp_path / "r.py").read_text(encoding="utf-8"), "r64")
    model = module["build"]() if isinstance(module, dict) else module.build()
    with torch.no_grad():
        assert tuple(model(torch.zeros(1, 3, 64, 64)).shape) == (1, 1000)  # torchvision's resnet18 head


# ---- layer: the bound analyze holds every tensor to, and units past T and GiB ----------------


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["layer", "64,100000,100000", "--out", "100000"],
         "--out:1:1: error: output 100000×99998×99998 has more than 2^40 elements (groupcost's bound on one tensor)\n"),
        (["layer", "64,1000000,1000000", "--out", "8"],
         "C,H,W:1:1: error: input 64×1000000×1000000 has more than 2^40 elements (groupcost's bound on one tensor)\n"),
    ],
)
def test_layer_past_the_tensor_bound(capsys, argv, line):
    assert_one_line(capsys, argv, line)


def test_analyze_refuses_what_layer_refuses(cli, write_spec):
    result = cli("analyze", write_spec("input: [64, 100000, 100000]\nlayers:\n  - conv: {out: 100000, k: 3}\n"))
    assert result.exit_code == 2 and "has more than 2^40 elements" in result.stderr


def test_units_past_tera_and_gibi():
    from groupcost.render import units

    # 64×9×10^10 weights-times-positions ×10^5 filters (the layer): 5.76×10^17 MACs
    assert units.count(64 * 9 * 100_000 * 99_998 * 99_998) == "575.98 P"
    assert (units.count(10**15), units.count(999 * 10**12)) == ("1.00 P", "999.00 T")
    assert (units.size(2682 * 2**30), units.size(3 * 2**50), units.size(5000 * 2**50)) == ("2.62 TiB", "3.00 PiB", "5000 PiB")
    assert (units.size(1023 * 2**30), units.size(2**40)) == ("1023 GiB", "1.00 TiB")


# ---- messages --------------------------------------------------------------------------------


def test_messages(cli, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty.onnx").write_bytes(b"")
    (tmp_path / "spec.yaml").write_text("input: [3, 8, 8]\nlayers:\n  - conv: {out: 4, k: 3}\n", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("hello\n", encoding="utf-8")
    hint = "import reads an ONNX file or torch:package.module:factory"
    cases = [
        (["analyze", "empty.onnx"], "empty.onnx: error: the file is empty (is this an ONNX model?)\n"),  # said once, not nested
        (["import", "empty.onnx"], "empty.onnx: error: the file is empty (is this an ONNX model?)\n"),
        (["import", "spec.yaml"], f"spec.yaml:1:1: error: 'spec.yaml' is already a spec ({hint}; the other commands read a spec as it is: groupcost analyze spec.yaml)\n"),
        (["import", "resnet18"], f"resnet18:1:1: error: 'resnet18' is already a spec ({hint}; the other commands read a spec as it is: groupcost analyze resnet18)\n"),
        (["import", "notes.txt"], f"notes.txt:1:1: error: 'notes.txt' is not an ONNX file (its name does not end in .onnx) ({hint})\n"),
        (["import", "nope.txt"], f"nope.txt:1:1: error: no such file ({hint})\n"),
        (["diff", "-", "-"], "-:1:1: error: BASE and HEAD are both standard input, which can be read once (give one of them as a file)\n"),
        (["check", "-", "-", "--max-params", "1M"], "-:1:1: error: standard input is named twice, and can be read once (give the other specs as files)\n"),
        (["export", "resnet18"], "--to:1:1: error: missing option '--to' (--to pytorch or --to onnx)\n"),  # no literal \n\t
    ]
    for argv, line in cases:
        assert_one_line(capsys, argv, line)


def test_calibrate_without_torch_is_located_at_calibrate(capsys, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "torch", None)  # `import torch` raises ImportError
    code, out, err = run(capsys, ["calibrate"])
    assert (code, out) == (2, "") and err.startswith("calibrate:1:1: error: --measure and calibrate need PyTorch, which is not installed"), err
    assert err.count("\n") == 1


def test_one_force_wording(cli, tmp_path, capsys):
    """Every command that refuses to overwrite says the same: (add --force to overwrite it)."""
    import pathlib

    import groupcost

    source = "".join(p.read_text(encoding="utf-8") for p in pathlib.Path(groupcost.__file__).parent.rglob("*.py"))
    assert "use --force" not in source and "give --force" not in source
    target = tmp_path / "taken"
    for name, argv in (("x.html", ["report", "resnet18"]), ("x.py", ["export", "resnet18", "--to", "pytorch"]), ("x.yaml", ["calibrate"]),
                       ("d.html", ["diff", "resnet18", "resnet18", "-f", "html"])):
        (target.with_name(name)).write_text("", encoding="utf-8")
        code, out, err = run(capsys, [*argv, "-o", target.with_name(name)])
        assert code == 2 and err.rstrip().endswith("exists (add --force to overwrite it)"), err


def test_usage_lines_name_the_arguments(cli):
    for command, usage in (("analyze", "[OPTIONS] SPEC"), ("layer", "[OPTIONS] C,H,W"),
                           ("check", "[OPTIONS] SPECS..."), ("diff", "[OPTIONS] BASE [HEAD]"),
                           ("export", "[OPTIONS] SPEC")):
        text = cli(command, "--help").stdout
        line = text.split("Usage:")[1].splitlines()[0]
        assert line.rstrip().endswith(f"{command} {usage}") and "{" not in line, line


def test_dash_capital_v(cli):
    import groupcost
    from groupcost.version import __version__

    assert __version__ == groupcost.__version__
    for flag in ("--version", "-V"):
        result = cli(flag)
        assert result.exit_code == 0 and result.stdout == f"groupcost {__version__}\n"
