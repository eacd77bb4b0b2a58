"""`check` over many files, and budget metric names: the old ones still read, unknown ones warned about."""

from __future__ import annotations

import csv
import io
import json

import groupcost


def test_old_budget_names_still_read(cli, write_spec):
    path = write_spec("name: n\ninput: [3, 8, 8]\nbudgets: {activations: 10K, traffic: 1M}\nlayers:\n  - conv: {out: 4, k: 3}\n")
    result = groupcost.check([str(path)])
    assert [v.budget.metric for v in result.specs[0].verdicts] == ["activation_elements", "traffic_elements"]
    assert cli("check", path, "--max-peak-activation-bytes", "1MiB").exit_code == 0


def test_analyze_warns_about_unknown_budget_keys(cli, write_spec):
    path = write_spec("name: n\ninput: [3, 8, 8]\nbudgets: {parms: 5M}\nlayers:\n  - conv: {out: 4, k: 3}\n")
    result = cli("analyze", path)
    assert result.exit_code == 0 and result.stderr == f"{path}:3:11: warning: unknown budget metric 'parms' (did you mean 'params'?)\n"


def test_check_reports_every_file(cli, tmp_path):
    good = "name: net\ninput: [3, 8, 8]\nbudgets: {params: 1K}\nlayers:\n  - conv: {out: 4, k: 3}\n"
    (tmp_path / "a.yaml").write_text(good)
    (tmp_path / "b.yaml").write_text("name: net\ninput: [3, 8, 8]\nlayers:\n  - conv: {out: 4, k: 99}\n")
    (tmp_path / "c.yaml").write_text(good.replace("1K", "10"))
    result = cli("check", str(tmp_path / "*.yaml"), "-f", "json")
    assert result.exit_code == 2
    specs = {s["source"]: s for s in json.loads(result.stdout)["specs"]}
    assert [s["status"] for s in specs.values()] == ["ok", "error", "over"]
    assert specs[str(tmp_path / "b.yaml")]["error"].startswith(f"{tmp_path / 'b.yaml'}:4:")
    assert [s["model"] for s in specs.values()] == list(specs)  # two specs named `net`: rows named by path
    assert result.stderr.count("\n") == 1 and "kernel 99×99" in result.stderr
    table = cli("check", str(tmp_path / "*.yaml"))
    assert "(spec not read)" in table.stdout and "over" in table.stdout
    rows = list(csv.DictReader(io.StringIO(cli("check", str(tmp_path / "*.yaml"), "-f", "csv").stdout)))
    assert [r["spec_status"] for r in rows] == ["ok", "error", "over"]

