"""The HTML report in a real browser: headless Chromium (Debian's `chromium` and `chromium-driver`)
driven by Selenium. Skips when either is missing. Each report's screenshot is saved under
test-artifacts/ (git-ignored) for a person to look at."""

from __future__ import annotations

import fnmatch
import shutil
import tempfile
from pathlib import Path

import pytest

from groupcost.questions.report import overview
from groupcost.render.html import to_html
from groupcost.run.roofline import device
from groupcost.sources import load_document

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install '.[test]')")

ROOT = Path(__file__).resolve().parents[2]
VALID = ROOT / "tests" / "valid"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=1280,1000",
)
MODELS = {
    "resnext50_32x4d": "resnext50_32x4d",
    "mobilenet_v2": "mobilenet_v2",
    "xception": "xception",
    "densenet121": str(VALID / "densenet121.yaml"),
    "unet": str(VALID / "unet.yaml"),
}

pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="chromium and chromedriver are not installed (apt-get install chromium chromium-driver)")


@pytest.fixture(scope="module")
def browser():
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="groupcost-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reports")
    made = {}
    for key, spec in MODELS.items():
        view = overview(load_document(spec), {}, device("a100"))
        path = folder / f"{key}.html"
        path.write_text(to_html(view), encoding="utf-8")
        made[key] = (view, path)
    return made


def open_page(browser, path: Path) -> None:
    browser.get(path.as_uri())
    browser.get_log("browser")  # start each page with an empty log


def errors(browser) -> list[dict]:
    return [entry for entry in browser.get_log("browser") if entry["level"] in ("SEVERE", "WARNING")]


def visible_boxes(view, opened: set[str]) -> set[str]:
    """What the graph should show with the blocks `opened` open: every layer or merge, or the outermost
    closed block (a name prefix of two or more rows) that holds it."""
    names = [row.name for row in view.report.rows]
    boxes = set()
    for name in names:
        parts = name.split(".")
        prefixes = [".".join(parts[:k]) for k in range(1, len(parts))]
        closed = [p for p in prefixes if sum(n.startswith(p + ".") for n in names) >= 2 and p not in opened]
        boxes.add("b:" + closed[0] if closed else "n:" + str(names.index(name)))
    return boxes


def shown(browser) -> set[str]:
    return set(browser.execute_script("return Array.from(document.querySelectorAll('#graph g.node'), g => g.dataset.id)"))


def opened(browser) -> set[str]:
    return set(browser.execute_script("return Array.from(document.querySelectorAll('#graph g.cluster'), g => g.dataset.block)"))


def screenshot(browser, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    target = ARTIFACTS / f"report-{name}.png"
    browser.save_screenshot(str(target))
    print(f"screenshot: {target}")


@pytest.mark.parametrize("key", list(MODELS))
def test_page_loads_and_draws_one_box_per_layer_or_folded_block(browser, pages, key):
    view, path = pages[key]
    open_page(browser, path)
    assert browser.find_elements("css selector", "#graph svg"), "no graph drawn"
    boxes = shown(browser)
    assert boxes == visible_boxes(view, opened(browser))
    assert 3 <= len(boxes) <= 60  # folded to a readable start
    # all expanded: one box per layer and merge
    browser.find_element("id", "expand-all").click()
    assert len(shown(browser)) == len(view.report.rows)
    browser.find_element("id", "fold-reset").click()
    assert shown(browser) == boxes
    browser.execute_script("document.getElementById('graph').scrollIntoView()")
    screenshot(browser, key)
    assert errors(browser) == []


@pytest.mark.parametrize("key", ["resnext50_32x4d", "densenet121"])
def test_clicking_a_block_expands_it_and_its_label_folds_it(browser, pages, key):
    view, path = pages[key]
    open_page(browser, path)
    before = shown(browser)
    block = sorted(b for b in before if b.startswith("b:"))[0]
    browser.find_element("css selector", f'#graph g.node[data-id="{block}"]').click()
    after = shown(browser)
    name = block[2:]
    assert block not in after and name in opened(browser)
    assert after == visible_boxes(view, opened(browser))
    assert len(after) > len(before)
    browser.find_element("css selector", f'#graph g.cluster[data-block="{name}"] text').click()
    assert shown(browser) == before
    assert errors(browser) == []


def test_hover_shows_the_row(browser, pages):
    view, path = pages["resnext50_32x4d"]
    open_page(browser, path)
    from selenium.webdriver import ActionChains

    node = browser.find_element("css selector", '#graph g.node[data-id="n:0"]')
    ActionChains(browser).move_to_element(node).perform()
    tip = browser.find_element("id", "tip")
    assert tip.is_displayed()
    assert "conv1" in tip.text and "118.01 M" in tip.text  # 64·3·7·7 · 112·112 = 118,013,952 MACs


def test_sorting_and_filtering_the_table(browser, pages):
    view, path = pages["resnext50_32x4d"]
    open_page(browser, path)
    rows = view.report.rows
    header = browser.find_element("css selector", '#layers th[data-key="macs"] button')
    browser.execute_script("arguments[0].scrollIntoView()", header)
    header.click()  # ascending
    header.click()  # descending
    names = browser.execute_script("return Array.from(document.querySelectorAll('#layers tbody tr'), r => r.dataset.name)")
    by_macs = sorted(rows, key=lambda r: (-r.macs, rows.index(r)))
    assert names == [r.name for r in by_macs]
    assert browser.find_element("css selector", '#layers th[data-key="macs"]').get_attribute("aria-sort") == "descending"
    browser.find_element("css selector", '#layers th[data-key="name"] button').click()
    names = browser.execute_script("return Array.from(document.querySelectorAll('#layers tbody tr'), r => r.dataset.name)")
    assert names[:3] == ["9", "avgpool", "bn1"]  # numeric-aware order of names
    box = browser.find_element("id", "filter")
    box.send_keys("layer3.*.conv2")
    visible = browser.execute_script("return Array.from(document.querySelectorAll('#layers tbody tr:not([hidden])'), r => r.dataset.name)")
    assert sorted(visible) == sorted(r.name for r in rows if fnmatch.fnmatchcase(r.name, "layer3.*.conv2"))
    assert len(visible) == 6
    assert browser.find_element("id", "count").text == f"6 of {len(rows)} rows"
    assert errors(browser) == []


def test_metric_switch_and_dark_mode(browser, pages):
    view, path = pages["mobilenet_v2"]
    open_page(browser, path)
    heat = "return Array.from(document.querySelectorAll('#graph rect.heat'), r => r.getAttribute('opacity'))"
    by_macs = browser.execute_script(heat)
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element("id", "metric")).select_by_visible_text("params")
    assert browser.execute_script(heat) != by_macs
    light = browser.execute_script("return getComputedStyle(document.body).backgroundColor")
    browser.find_element("id", "theme").click()
    dark = browser.execute_script("return getComputedStyle(document.body).backgroundColor")
    assert light != dark
    browser.execute_script("document.getElementById('graph').scrollIntoView()")
    screenshot(browser, "mobilenet_v2-dark")
    assert errors(browser) == []


def test_prints_without_controls_and_unclipped(browser, pages):
    import base64

    view, path = pages["resnext50_32x4d"]
    open_page(browser, path)
    browser.find_element("id", "theme").click()  # dark on screen; print is light whatever the switch says
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        style = "return getComputedStyle(document.querySelector(arguments[0]))[arguments[1]]"
        assert browser.execute_script(style, "#expand-all", "display") == "none"
        assert browser.execute_script(style, "#filter", "display") == "none"
        assert browser.execute_script(style, "#graph", "overflow") == "visible"
        assert browser.execute_script(style, "body", "backgroundColor") in ("rgb(255, 255, 255)", "rgba(0, 0, 0, 0)")
        pdf = base64.b64decode(browser.execute_cdp_cmd("Page.printToPDF", {"printBackground": True})["data"])
        assert pdf.startswith(b"%PDF")
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "report-resnext50_32x4d.pdf").write_bytes(pdf)
    finally:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
    assert errors(browser) == []


# ---- fits the page: the graph beside the costs, labels inside the drawing, one edge per output terminal -------


def test_the_graph_sits_beside_where_the_cost_sits(browser, pages):
    """At 1280 columns of pixels the graph is not a narrow column alone on the page: the costs are to its right."""
    _, path = pages["resnext50_32x4d"]
    open_page(browser, path)
    box = "return document.querySelector(arguments[0]).getBoundingClientRect().toJSON()"
    graph, cost = browser.execute_script(box, "#graph-section"), browser.execute_script(box, "#cost-section")
    assert cost["left"] >= graph["right"] and abs(cost["top"] - graph["top"]) < 5
    assert browser.find_elements("css selector", "#cost-section table.top tbody tr")
    width = browser.execute_script("return [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert width[0] <= width[1], "the page scrolls sideways"
    height = browser.execute_script("return document.documentElement.scrollHeight")
    assert height < 3000, height  # 3,341 px when every section stood alone under the other
    assert errors(browser) == []


def test_frame_labels_stay_inside_the_drawing_when_all_is_expanded(browser, pages):
    _, path = pages["densenet121"]
    open_page(browser, path)
    browser.find_element("id", "expand-all").click()
    outside = browser.execute_script("""
        const svg = document.querySelector('#graph svg'), [x, y, w, h] = svg.getAttribute('viewBox').split(' ').map(Number);
        return Array.from(svg.querySelectorAll('g.cluster text'), t => [t.textContent, t.getBBox()])
          .filter(([_, b]) => b.x < x - 0.5 || b.y < y - 0.5 || b.x + b.width > x + w + 0.5 || b.y + b.height > y + h + 0.5)
          .map(([name]) => name);""")
    assert outside == []
    labels = browser.execute_script("return Array.from(document.querySelectorAll('#graph g.cluster text'), t => t.firstChild.nodeValue)")
    assert "▾ denselayer1" in labels and not any(label.count(".") > 1 for label in labels)  # names relative to their frame
    assert errors(browser) == []


def test_a_folded_fpn_block_has_one_edge_to_one_terminal_of_its_outputs(browser, tmp_path):
    path = tmp_path / "fpn.html"
    path.write_text(to_html(overview(load_document("resnet50_fpn"), {}, device("a100"))), encoding="utf-8")
    open_page(browser, path)
    terminals = browser.execute_script("return Array.from(document.querySelectorAll('#graph g.terminal'), g => g.textContent)")
    assert "4 outputs256×56×56256×28×28256×14×14256×7×7" in terminals  # fpn.layer_blocks folded: its four outputs, one terminal
    ends = browser.execute_script("""return Array.from(document.querySelectorAll('#graph path.edge'),
        p => p.getAttribute('d').split(' L').slice(-2).join(' '))""")
    assert len(ends) == len(set(ends)), "two edges end along the same line"
    block = browser.find_element("css selector", '#graph g.node[data-id="b:fpn.layer_blocks"]').text
    assert all(shape in block for shape in ("256×56×56", "256×28×28", "256×14×14", "256×7×7"))
    assert errors(browser) == []
