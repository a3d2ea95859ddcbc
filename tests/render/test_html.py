"""Render the HTML reports in a real headless Chromium: they load, plots are there, and the
browser logs no console errors. Skips (with the reason) where Chromium is not installed;
.ci/run installs it so CI runs these."""

import shutil

import numpy as np
import pytest

from collapsekit import analyze
from collapsekit.render.html import render_history
from collapsekit.report.history import append_history, read_history
from references import blobs

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER),
    reason="Chromium and chromedriver not installed (apt-get install chromium chromium-driver)",
)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    yield driver
    driver.quit()


def _console_errors(driver):
    return [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]


def test_report_renders_with_plots(browser, tmp_path):
    X, y = blobs(300, 4, 24, seed=0)
    path = tmp_path / "report.html"
    analyze(X, y, weights=np.eye(4, 24), bootstrap=30).to_html(path)
    browser.get(path.as_uri())
    from selenium.webdriver.common.by import By

    assert "Verdict" in browser.find_element(By.ID, "verdict").text
    titles = [e.get_attribute("aria-label") for e in browser.find_elements(By.CSS_SELECTOR, "svg")]
    assert "Singular-value spectrum" in titles
    assert "Centred class-mean cosine (neural-collapse view)" in titles
    assert "Uncentred class-mean cosine" in titles
    assert "Per-class effective rank" in titles
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg polyline.series")) == 2
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg rect.cell")) == 2 * 16
    nc_rows = browser.find_elements(By.CSS_SELECTOR, "#nc-table tr")
    assert len(nc_rows) > 10 and "[" in nc_rows[1].text  # nc1 with its interval
    svg = browser.find_element(By.CSS_SELECTOR, "svg")
    assert svg.size["width"] > 100 and svg.size["height"] > 100  # actually laid out
    # heatmap: a label for every row and every column, and a colour bar
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg text.rowlabel")) == 2 * 4
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg text.collabel")) == 2 * 4
    assert browser.find_elements(By.CSS_SELECTOR, "svg g.colorbar")
    _assert_legends_clear(browser)
    assert _console_errors(browser) == []


# laid-out boxes, as the browser drew them: every legend ends above its plot frame, and no
# legend overlaps a data line
LEGEND_BOXES = """
return Array.from(document.querySelectorAll('svg')).filter(s => s.querySelector('g.legend'))
  .map(s => {
    const box = e => { const b = e.getBoundingClientRect();
      return [b.left, b.top, b.right, b.bottom]; };
    return {legend: box(s.querySelector('g.legend')), frame: box(s.querySelector('rect.frame')),
            lines: Array.from(s.querySelectorAll('polyline.series')).map(box)};
  });
"""


def _assert_legends_clear(driver):
    charts = driver.execute_script(LEGEND_BOXES)
    assert charts
    for c in charts:
        assert c["legend"][3] <= c["frame"][1] + 0.5
        for line in c["lines"]:
            assert line[1] >= c["legend"][3] - 0.5


def test_tracking_page_renders(browser, tmp_path):
    hist = tmp_path / "history.jsonl"
    for epoch in range(5):
        append_history(
            hist,
            {
                "epoch": epoch,
                "nc1": 1.0 / (epoch + 1),
                "etf_error": 0.5,
                "ncc_agreement": 0.9 + 0.02 * epoch,
            },
        )
    page = tmp_path / "tracking.html"
    page.write_text(render_history(read_history(hist)))
    browser.get(page.as_uri())
    from selenium.webdriver.common.by import By

    lines = browser.find_elements(By.CSS_SELECTOR, "svg polyline.series")
    assert {e.get_attribute("data-name") for e in lines} >= {"nc1", "etf_error", "ncc_agreement"}
    _assert_legends_clear(browser)
    assert _console_errors(browser) == []
