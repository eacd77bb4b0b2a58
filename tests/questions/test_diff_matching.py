"""`diff` matching: an inserted unnamed layer is one change, changed rows say what changed, a spec new at
the git revision is all added."""

from __future__ import annotations

import json
import subprocess

import groupcost


NET = "name: net\ninput: [3, 16, 16]\nlayers:\n  - conv: {out: 8, k: 3, p: 1}\n  - relu\n  - conv: {out: 16, k: 3, p: 1}\n  - relu\n  - gap\n  - flatten\n  - fc: {out: 10}\n"


def test_an_inserted_unnamed_layer_is_one_change():
    inserted = NET.replace("  - relu\n  - conv: {out: 16", "  - relu\n  - bn\n  - conv: {out: 16", 1)
    d = groupcost.diff(groupcost.parse_text(NET, "base.yaml"), groupcost.parse_text(inserted, "head.yaml"))
    assert [(c.status, c.name) for c in d.layers] == [("added", "2")]
    d = groupcost.diff(groupcost.parse_text(inserted, "head.yaml"), groupcost.parse_text(NET, "base.yaml"))
    assert [(c.status, c.name) for c in d.layers] == [("removed", "2")]


def test_changed_rows_say_what_changed(cli, write_spec):
    base = write_spec(NET, "base.yaml")
    head = write_spec(NET.replace("{out: 16, k: 3, p: 1}", "{out: 16, k: 3, p: 1, groups: 4}"), "head.yaml")
    d = groupcost.diff(str(base), str(head))
    (change,) = d.layers
    assert change.name == "2" and set(change.what) >= {"kind", "groups", "params", "macs"}
    table = cli("diff", base, head).stdout
    assert "standard 3×3, G=1" in table and "grouped 3×3, G=4" in table
    assert groupcost.to_dict(d)["layers"][0]["changed"] == list(change.what)


def test_git_spec_new_at_head_is_all_added(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for args in (["init", "-q"], ["config", "user.email", "t@t"], ["config", "user.name", "t"], ["commit", "-q", "--allow-empty", "-m", "root"]):
        subprocess.run(["git", *args], check=True, cwd=tmp_path)
    (tmp_path / "new.yaml").write_text(NET)
    result = cli("diff", "--git", "HEAD", "new.yaml", "-f", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert {layer["status"] for layer in doc["layers"]} == {"added"} and len(doc["layers"]) == 7
    assert doc["totals"]["params"]["base"] == 0 and doc["totals"]["params"]["head"] == 8 * 3 * 9 + 8 + 16 * 8 * 9 + 16 + 16 * 10 + 10

