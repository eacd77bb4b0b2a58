"""The pre-commit hook's entry and the GitHub Action's script, run locally on sample specs (no network)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).parents[2]
BIN = Path(sys.executable).parent
SPEC = "name: net\ninput: [3, 32, 32]\nbudgets: {params: 2K, macs: 2M}\nlayers:\n  - conv: {out: 16, k: 3, p: 1}\n  - relu\n  - conv: {out: 16, k: 3, p: 1, groups: G}\n"
# conv1: 3·16·9 + 16 = 448 params, 432·1024 = 442,368 MACs; conv2 at G: 16·(16/G)·9 + 16 params, ×1024 MACs


def env() -> dict[str, str]:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def spec(groups: int) -> str:
    return SPEC.replace("groups: G", f"groups: {groups}")


def test_pre_commit_hook_entry(tmp_path):
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "groupcost-check" and hook["language"] == "python"
    assert re.search(hook["files"], "specs/net.yaml") and re.search(hook["files"], "models/a/b.yaml")
    (tmp_path / "specs").mkdir()
    within, over = tmp_path / "specs" / "within.yaml", tmp_path / "specs" / "over.yaml"
    within.write_text(spec(8))  # 448 + 304 params
    over.write_text(spec(1))  # 448 + 2,320 params: over 2K
    entry = shlex.split(hook["entry"])
    ok = subprocess.run([*entry, "specs/within.yaml"], cwd=tmp_path, env=env(), capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run([*entry, "specs/within.yaml", "specs/over.yaml"], cwd=tmp_path, env=env(), capture_output=True, text=True)
    assert bad.returncode == 1 and "specs/over.yaml: params is 2,768, over the budget of 2K" in bad.stdout  # two specs named `net`: told apart by path
    broken = tmp_path / "specs" / "broken.yaml"
    broken.write_text("input: [3, 8, 8]\nlayers: [cnov]\n")
    error = subprocess.run([*entry, "specs/broken.yaml"], cwd=tmp_path, env=env(), capture_output=True, text=True)
    assert error.returncode == 2 and error.stderr.startswith("specs/broken.yaml:2:10: error: unknown layer type 'cnov'")


def test_action_runs_its_script_with_its_inputs():
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    assert set(action["inputs"]) == {"specs", "base-ref", "fail-on-increase", "args", "comment", "python-version", "reports", "reports-name"}
    steps = "\n".join(step.get("run", "") for step in action["runs"]["steps"])
    assert "scripts/groupcost-action.sh" in steps and (ROOT / "scripts" / "groupcost-action.sh").exists()
    # the HTML reports: the script's folder is the action's output, uploaded as an artifact
    (script,) = [step for step in action["runs"]["steps"] if "groupcost-action.sh" in step.get("run", "")]
    assert "GROUPCOST_REPORTS" in script["env"] and action["outputs"]["reports"]["value"] == "${{ steps.%s.outputs.reports }}" % script["id"]
    (upload,) = [step for step in action["runs"]["steps"] if step.get("uses", "").startswith("actions/upload-artifact@")]
    assert upload["with"]["path"] == "${{ steps.report.outputs.reports }}" and upload["with"]["name"] == "${{ inputs.reports-name }}"


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, check=True, capture_output=True)


def run_action(cwd: Path, **variables: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(ROOT / "scripts" / "groupcost-action.sh")], cwd=cwd, capture_output=True, text=True,
                          env={**env(), **variables})


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository whose main has a spec at G=8; the working tree then changes it."""
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "net.yaml").write_text(spec(8))
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "main")
    return tmp_path


def test_action_pull_request_within_budget(repo):
    (repo / "models" / "net.yaml").write_text(spec(4))  # conv2: 16·4·9 + 16 = 592 params, still within 2K
    (repo / "models" / "new.yaml").write_text(spec(16))
    comment, summary = repo / "comment.md", repo / "summary.md"
    done = run_action(repo, GROUPCOST_SPECS="models/*.yaml", GROUPCOST_BASE="HEAD", GROUPCOST_COMMENT=str(comment), GITHUB_STEP_SUMMARY=str(summary))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().splitlines()[-1] == "2 spec(s), 4 budget(s): 0 over, 0 close, 4 within"
    text = comment.read_text()
    assert text.startswith("### ✅ groupcost budgets")
    assert "### 📊 groupcost diff: `HEAD:models/net.yaml` → `models/net.yaml`" in text
    assert "| params | 752 | 1.04 K | +288 | +38.3% |" in text
    assert "### 📊 groupcost diff: `HEAD:models/new.yaml (absent)` → `models/new.yaml`" in text  # new since HEAD: all added
    assert "| params | 0 | " in text
    assert summary.read_text() == text
    assert "HTML reports" not in text  # none asked for


def test_action_writes_both_sides_html_reports(repo):
    (repo / "models" / "net.yaml").write_text(spec(4))
    (repo / "models" / "new.yaml").write_text(spec(16))
    reports, output, comment = repo / "reports", repo / "output.txt", repo / "comment.md"
    done = run_action(repo, GROUPCOST_SPECS="models/*.yaml", GROUPCOST_BASE="HEAD", GROUPCOST_COMMENT=str(comment), GROUPCOST_REPORTS=str(reports),
                      GITHUB_OUTPUT=str(output), GITHUB_RUN_ID="42", GITHUB_REPOSITORY="o/r")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "::warning" not in done.stdout
    # new.yaml is new since the base: no base report
    assert sorted(p.name for p in reports.iterdir()) == ["models__net.base.html", "models__net.diff.html", "models__net.head.html",
                                                        "models__new.diff.html", "models__new.head.html"]
    base, head = (reports / "models__net.base.html").read_text(), (reports / "models__net.head.html").read_text()
    assert "MACs 737,280" in base and "MACs 1,032,192" in head  # conv1 442,368 + conv2 at G=8: 16·2·9·1024 = 294,912; at G=4: 589,824
    assert "http" not in base.replace("http://www.w3.org/2000/svg", "")
    assert 'class="change-changed"' in (reports / "models__net.diff.html").read_text()
    assert output.read_text() == f"reports={reports}\n"
    assert "HTML reports (the architecture graph of each side, the changed layers marked): the `groupcost-reports` artifact of [this run](https://github.com/o/r/actions/runs/42)." in comment.read_text()


def test_action_fails_on_budget_and_on_rules(repo):
    (repo / "models" / "net.yaml").write_text(spec(1))  # 2,768 params: over 2K
    comment = repo / "comment.md"
    over = run_action(repo, GROUPCOST_SPECS="models/net.yaml", GROUPCOST_BASE="HEAD", GROUPCOST_COMMENT=str(comment))
    assert over.returncode == 1
    assert over.stdout.startswith("::error file=models/net.yaml,line=3,col=19,title=groupcost budget%3A net::params is 2,768")
    (repo / "models" / "net.yaml").write_text(spec(4))
    rule = run_action(repo, GROUPCOST_SPECS="models/net.yaml", GROUPCOST_BASE="HEAD", GROUPCOST_COMMENT=str(comment), GROUPCOST_FAIL_ON_INCREASE="params>10%")
    assert rule.returncode == 1 and "rule params>10% fired: params grew by 288 (+38.3%)" in comment.read_text()
    bad = run_action(repo, GROUPCOST_SPECS="models/net.yaml", GROUPCOST_COMMENT=str(comment), GROUPCOST_CHECK_ARGS="--max-params lots")
    assert bad.returncode == 2 and "--max-params:1:1: error:" in bad.stderr
