"""The page in a real browser: Debian's Chromium, headless, driven by Playwright.

Skipped when /usr/bin/chromium is missing, unless CNNLAB_REQUIRE_BROWSER=1 (CI), which makes a
missing browser a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.is_file():
        if os.environ.get("CNNLAB_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{CHROMIUM} is missing and CNNLAB_REQUIRE_BROWSER=1: install it with "
                        "`apt-get install -y chromium`")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        # --no-sandbox: CI containers run as root, where Chromium's sandbox refuses to start.
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def app_url(trained_run):
    from cnnlab.serve.server import running_server

    with running_server(trained_run) as url:
        yield url


def upload_digit(browser, app_url, digit_pngs, tmp_path, index: int = 0):
    pngs, expected = digit_pngs
    image = tmp_path / "digit.png"
    image.write_bytes(pngs[index])
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(app_url + "/")
    page.wait_for_selector('#status[data-state="ready"]', timeout=20_000)
    page.set_input_files("#file", str(image))
    page.wait_for_selector('#status[data-state="done"], #status[data-state="error"]', timeout=60_000)
    return page, expected[index]


def test_upload_shows_the_predicted_class(browser, app_url, digit_pngs, tmp_path):
    page, expected = upload_digit(browser, app_url, digit_pngs, tmp_path)
    page.screenshot(path=str(tmp_path / "predict.png"), full_page=True)
    assert page.get_attribute("#status", "data-state") == "done", page.inner_text("#error")
    assert page.get_attribute("#top-class", "data-class") == expected
    assert page.inner_text("#top-class").startswith(expected)
    assert page.locator("#bars .bar").count() == 5
    assert page.is_visible("#preview")
    assert (tmp_path / "predict.png").stat().st_size > 10_000
    page.close()


def test_upload_shows_the_heatmap(browser, app_url, digit_pngs, tmp_path):
    pytest.importorskip("cnnlab.explain", reason="needs cnnlab.explain")
    page, expected = upload_digit(browser, app_url, digit_pngs, tmp_path, index=1)
    page.wait_for_selector('#heatmap[data-loaded="1"]', timeout=60_000)
    page.wait_for_selector('#featuremaps[data-loaded="1"]', timeout=60_000)
    page.screenshot(path=str(tmp_path / "heatmap.png"), full_page=True)
    assert page.get_attribute("#top-class", "data-class") == expected
    size = page.evaluate("() => [document.getElementById('heatmap').naturalWidth, "
                         "document.getElementById('featuremaps').naturalWidth]")
    assert min(size) > 50  # real pictures, not broken-image icons
    page.close()


def test_bad_file_shows_the_error(browser, app_url, tmp_path):
    page = browser.new_page()
    page.goto(app_url + "/")
    page.wait_for_selector('#status[data-state="ready"]', timeout=20_000)
    bad = tmp_path / "notes.png"
    bad.write_text("not an image at all")
    page.set_input_files("#file", str(bad))
    page.wait_for_selector('#status[data-state="error"]', timeout=30_000)
    assert "415" in page.inner_text("#error") and "not an image" in page.inner_text("#error")
    page.close()
