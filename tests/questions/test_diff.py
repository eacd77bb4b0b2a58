"""`groupcost diff`: totals and layers of two specs, a spec against itself at a git revision, and rules."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from groupcost.questions.diff import parse_rules
from groupcost.errors import UsageError

BASE = "name: net\ninput: [3, 16, 16]\nlayers:\n  - conv: {out: 8, k: 3, p: 1}\n  - relu\n  - conv: {name: mid, out: 16, k: 3, p: 1}\n  - gap\n  - flatten\n  - fc: {name: head, out: 10}\n"
# head: mid grouped 2, a new fc before head, head unchanged
HEAD = BASE.replace("{name: mid, out: 16, k: 3, p: 1}", "{name: mid, out: 16, k: 3, p: 1, groups: 2}").replace("  - fc: {name: head", "  - fc: {name: extra, out: 16}\n  - fc: {name: head")


def test_diff_json(cli, write_spec):
    base, head = write_spec(BASE, "base.yaml"), write_spec(HEAD, "head.yaml")
    result = cli("diff", base, head, "--format", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    # mid: 16·8·9 + 16 = 1,168 → 16·4·9 + 16 = 592; extra: 16·16 + 16 = 272; head 16→10 either way (170)
    assert doc["totals"]["params"] == {"base": 224 + 1_168 + 170, "head": 224 + 592 + 272 + 170, "delta": -576 + 272}
    changes = {layer["name"]: layer for layer in doc["layers"]}
    assert changes["mid"]["status"] == "changed" and changes["mid"]["head"]["groups"] == 2
    assert changes["extra"]["status"] == "added" and changes["extra"]["base"] is None
    assert set(changes) == {"mid", "extra"}  # named layers keep their names whatever is inserted before them
    assert doc["failed_rules"] == []


def test_removed_layers_and_identical_specs(cli, write_spec):
    base, head = write_spec(HEAD, "base.yaml"), write_spec(BASE, "head.yaml")
    doc = json.loads(cli("diff", base, head, "--format", "json").stdout)
    assert {layer["name"]: layer["status"] for layer in doc["layers"]}["extra"] == "removed"
    same = cli("diff", base, base)
    assert same.exit_code == 0 and "no layer added, removed or changed" in same.stdout


@pytest.mark.parametrize(("rule", "code"), [("params>0", 0), ("macs>0", 0), ("traffic>0", 0), ("activation_bytes>0", 1), ("activation_bytes>64", 0), ("activations>0.1%", 1), ("activations>1%", 0)])
def test_fail_on_increase(cli, write_spec, rule, code):
    """Params, MACs and traffic fall (grouping); activations grow by 16 elements, 64 bytes, +0.2 % (a new fc)."""
    base, head = write_spec(BASE, "base.yaml"), write_spec(HEAD, "head.yaml")
    result = cli("diff", base, head, "--fail-on-increase", rule)
    assert result.exit_code == code, result.stdout
    assert ("fired" in result.stdout) == bool(code)


def test_rules_parse():
    rules = parse_rules("macs>5%, params>100K ,activation_bytes>1MiB")
    assert [(r.metric, r.amount, r.percent) for r in rules] == [("macs", None, 5.0), ("params", 100_000, None), ("activation_bytes", 2**20, None)]
    for bad in ("macs", "mac>5%", "macs>x%", "params>5MiB"):
        with pytest.raises(UsageError):
            parse_rules(bad)


def git(cwd, *args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, check=True, capture_output=True)


def test_git_revision(cli, tmp_path, monkeypatch):
    (tmp_path / "models").mkdir()
    spec = tmp_path / "models" / "net.yaml"
    spec.write_text(BASE)
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "base")
    spec.write_text(HEAD)
    monkeypatch.chdir(tmp_path / "models")
    result = cli("diff", "--git", "HEAD", "net.yaml", "--format", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["base"] == "HEAD:models/net.yaml" and doc["head"] == "net.yaml"
    assert doc["totals"]["params"]["delta"] == -304
    missing = cli("diff", "--git", "nosuchrev", "net.yaml")
    assert missing.exit_code == 2 and missing.stderr.startswith("--git:1:1: error: cannot read models/net.yaml at nosuchrev")


def test_git_base_errors_are_located_at_the_revision(cli, tmp_path, monkeypatch):
    spec = tmp_path / "net.yaml"
    spec.write_text(BASE.replace("out: 8", "out: 8, kernel: 3"))
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "broken base")
    spec.write_text(BASE)
    monkeypatch.chdir(tmp_path)
    result = cli("diff", "--git", "HEAD", "net.yaml")
    assert result.exit_code == 2
    assert result.stderr.startswith("HEAD:net.yaml:4:20: error: unknown argument 'kernel' for conv")


@pytest.mark.parametrize(
    ("args", "prefix"),
    [
        (["resnet18"], "diff:1:1: error: diff takes BASE and HEAD; got 1 spec(s)"),
        (["resnet18", "resnet50", "--git", "HEAD"], "--git:1:1: error: --git compares one spec with itself; got 2"),
        (["resnet18", "resnet50", "--fail-on-increase", "flops>>1"], "--fail-on-increase:1:1: error: cannot read the threshold"),
        (["resnet18", "nosuch"], "nosuch:1:1: error: 'nosuch' is neither a spec file nor a zoo model"),
    ],
)
def test_diff_bad_input(cli, args, prefix):
    result = cli("diff", *args)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith(prefix) and result.stderr.count("\n") == 1, result.stderr


def test_zoo_models_diff(cli):
    result = cli("diff", "resnet50", "resnext50_32x4d", "--format", "json", "--fail-on-increase", "params>0")
    doc = json.loads(result.stdout)
    assert doc["totals"]["params"] == {"base": 25_557_032, "head": 25_028_904, "delta": -528_128}
    assert doc["totals"]["macs"]["delta"] == 4_230_479_872 - 4_089_184_256
    assert result.exit_code == 0
    assert cli("diff", "resnet50", "resnext50_32x4d", "--fail-on-increase", "macs>3%").exit_code == 1  # +3.46 %


MERMAID_NODE = re.compile(r'^    (n\d+)(\["|\(\[")(.*?)("\]|"\]\))$')
MERMAID_EDGE = re.compile(r"^    (n\d+) (-->|-\.->) (n\d+)$")


def mermaid_of(markdown: str) -> tuple[dict[str, str], list[tuple[str, str]], dict[str, str]]:
    """The one ```mermaid block of a Markdown diff: labels by id, edges, and each styled id's class; fails if malformed."""
    blocks = re.findall(r"^```mermaid\n(.*?)^```$", markdown, re.S | re.M)
    assert len(blocks) == 1, markdown
    lines = blocks[0].splitlines()
    assert lines[0] == "flowchart TB"
    labels, edges, classes = {}, [], {}
    for line in lines[1:]:
        if node := MERMAID_NODE.match(line):
            assert '"' not in node[3] and node[1] not in labels
            labels[node[1]] = node[3]
        elif edge := MERMAID_EDGE.match(line):
            edges.append((edge[1], edge[3]))
        elif line.startswith("    classDef "):
            continue
        elif styled := re.match(r"^    class ((?:n\d+,)*n\d+) (added|removed|changed)$", line):
            classes.update(dict.fromkeys(styled[1].split(","), styled[2]))
        else:
            raise AssertionError(f"unexpected line {line!r}")
    assert all(a in labels and b in labels for a, b in edges), "an edge's end is not declared"
    assert set(classes) <= set(labels)
    return labels, edges, classes


def test_markdown_draws_the_changed_region_in_mermaid(cli, write_spec):
    base, head = write_spec(BASE, "base.yaml"), write_spec(HEAD, "head.yaml")
    labels, edges, classes = mermaid_of(cli("diff", base, head, "--format", "markdown").stdout)
    named = {label.split("<br/>")[0]: node for node, label in labels.items()}
    assert classes == {named["mid"]: "changed", named["extra"]: "added"}  # regrouped, inserted
    assert labels[named["mid"]] == "mid<br/>conv · 16×16×16 · G=2<br/>was G=1"
    assert labels[named["extra"]] == "extra<br/>fc · 16"
    assert (named["extra"], named["head"]) in edges and (named["4"], named["extra"]) in edges  # its neighbours, drawn
    assert "0" not in named  # the first conv is two layers away from any change
    removed = mermaid_of(cli("diff", head, base, "--format", "markdown").stdout)
    named = {label.split("<br/>")[0]: node for node, label in removed[0].items()}
    assert removed[2][named["extra"]] == "removed"
    assert (named["extra"], named["head"]) in removed[1] and (named["4"], named["head"]) in removed[1]
    assert "```mermaid" not in cli("diff", base, base, "--format", "markdown").stdout


def test_mermaid_region_is_capped(cli):
    from groupcost.render.mermaid import MAX_NODES

    text = cli("diff", "resnet50", "resnext50_32x4d", "--format", "markdown").stdout
    labels, _, classes = mermaid_of(text)
    assert len(labels) <= MAX_NODES and "layer1.0.conv2" in {label.split("<br/>")[0] for label in labels.values()}
    left = int(re.search(r"; (\d+) more changed layer\(s\) are not drawn", text)[1])
    assert len(classes) + left == text.count("| changed |") + text.count("| added |") + text.count("| removed |")


def test_mermaid_of_an_unnamed_layer_inserted_and_removed(cli, write_spec):
    """The layers after an inserted unnamed one are renumbered: the region pairs them, drawing each once."""
    inserted = BASE.replace("  - relu\n", "  - relu\n  - conv: {out: 8, k: 1}\n")
    base, head = write_spec(BASE, "base.yaml"), write_spec(inserted, "head.yaml")
    labels, edges, classes = mermaid_of(cli("diff", base, head, "--format", "markdown").stdout)
    assert sorted(labels.values()) == ["1<br/>relu · 8×16×16", "2<br/>conv · 8×16×16 · G=1", "mid<br/>conv · 16×16×16 · G=1"]
    named = {label.split("<br/>")[0]: node for node, label in labels.items()}
    assert classes == {named["2"]: "added"} and edges == [(named["1"], named["2"]), (named["2"], named["mid"])]
    labels, edges, classes = mermaid_of(cli("diff", head, base, "--format", "markdown").stdout)
    named = {label.split("<br/>")[0]: node for node, label in labels.items()}
    assert len(labels) == 3 and classes == {named["2"]: "removed"}
    assert set(edges) == {(named["1"], named["mid"]), (named["1"], named["2"]), (named["2"], named["mid"])}
