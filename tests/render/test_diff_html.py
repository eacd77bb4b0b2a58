"""`groupcost diff --format html`: one self-contained page with the totals' changes, the changed
layers, and both sides' reports with those layers marked; opened in headless Chromium when there is one."""

from __future__ import annotations

import html
import json
import re
import shutil
import tempfile
from pathlib import Path

import pytest

from questions.test_diff import BASE, HEAD

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"


def frames(page: str) -> list[str]:
    """The pages inside the iframes' srcdoc."""
    return [html.unescape(found) for found in re.findall(r'<iframe title="[^"]*" srcdoc="([^"]*)"', page)]


def graph_of(inner: str) -> dict:
    found = re.search(r'<script type="application/json" id="graph-data">(.*?)</script>', inner, re.S)
    assert found
    return json.loads(found[1])


@pytest.fixture
def written(cli, write_spec, tmp_path):
    base, head = write_spec(BASE, "base.yaml"), write_spec(HEAD, "head.yaml")
    target = tmp_path / "diff.html"
    result = cli("diff", base, head, "--format", "html", "-o", str(target))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "" and result.stderr == f"wrote {target}\n"
    return target


def test_diff_page_is_written_and_self_contained(written):
    page = written.read_text(encoding="utf-8")
    assert "<link" not in page and " src=" not in page
    assert set(re.findall(r"https?://[^\s\"'`)&]+", page)) <= {"http://www.w3.org/2000/svg"}  # the SVG namespace, in the reports' script
    base, head = frames(page)
    for inner in (base, head):
        assert "<link" not in inner and " src=" not in inner and "dagre" in inner


def test_diff_page_shows_totals_layers_and_marks_both_sides(written):
    page = written.read_text(encoding="utf-8")
    assert '<tr class="fell"><td>params</td><td class=num>1.56 K</td><td class=num>1.26 K</td><td class=num>-304</td>' in page
    assert '<tr class="change-changed"><td>mid</td><td>changed</td>' in page
    assert '<tr class="change-added"><td>extra</td><td>added</td>' in page
    base, head = frames(page)
    marked = {n["name"]: n.get("change") for n in graph_of(head)["nodes"]}
    assert {name: change for name, change in marked.items() if change} == {"mid": "changed", "extra": "added"}
    assert {n["name"]: n.get("change") for n in graph_of(base)["nodes"] if n.get("change")} == {"mid": "changed"}
    assert '<tr data-i="2" data-name="mid" class="change-changed">' in head


def test_diff_page_of_a_spec_new_at_the_revision(cli, write_spec, tmp_path, monkeypatch):
    import subprocess

    spec = write_spec(BASE, "net.yaml")
    monkeypatch.chdir(Path(spec).parent)
    (Path(spec).parent / "other.txt").write_text("x")
    for args in (["init", "-q"], ["add", "other.txt"], ["commit", "-qm", "before the spec"]):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], check=True, capture_output=True)
    result = cli("diff", "--git", "HEAD", "net.yaml", "--format", "html")
    assert result.exit_code == 0, result.stderr
    assert "Absent on this side" in result.stdout and len(frames(result.stdout)) == 1


def test_output_needs_the_html_format(cli, write_spec, tmp_path):
    base = write_spec(BASE, "base.yaml")
    result = cli("diff", base, base, "-o", str(tmp_path / "x.html"))
    assert result.exit_code == 2 and result.stderr.startswith("--output:1:1: error: --output writes the html page")
    (tmp_path / "x.html").write_text("keep")
    again = cli("diff", base, base, "--format", "html", "-o", str(tmp_path / "x.html"))
    assert again.exit_code == 2 and (tmp_path / "x.html").read_text() == "keep"


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="chromium and chromedriver are not installed (apt-get install chromium chromium-driver)")
def test_diff_page_in_a_browser(written):
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install '.[test]')")
    from selenium.webdriver.chrome.service import Service

    from test_html_browser import FLAGS

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="groupcost-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        browser.get(written.as_uri())
        for side, changed in (("base", {"mid"}), ("head", {"mid", "extra"})):
            browser.switch_to.frame(browser.find_element("css selector", f"#{side} iframe"))
            assert browser.find_elements("css selector", "#graph svg"), f"no graph drawn in the {side} report"
            browser.find_element("id", "expand-all").click()
            names = browser.execute_script(
                "return Array.from(document.querySelectorAll('#graph g.node[class*=change-]'), g => g.dataset.id)"
                ".map(id => JSON.parse(document.getElementById('graph-data').textContent).nodes[Number(id.slice(2))].name)")
            assert set(names) == changed
            browser.switch_to.default_content()
        browser.find_element("id", "layout").click()
        assert "by-side" in browser.find_element("id", "sides").get_attribute("class")
        ARTIFACTS.mkdir(exist_ok=True)
        browser.save_screenshot(str(ARTIFACTS / "diff.png"))
        assert [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")] == []
    finally:
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)
