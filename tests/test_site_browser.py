"""The static site in a real browser: every page loads clean, every image and link resolves.

Builds the site from a small executed series, on the tiny demo (:mod:`tests.tiny_demo`): the
six notebooks executed and stamped by :func:`runner.execute_series` with the parameters
``tests/test_notebooks.py`` runs them with, then the demo's study (:func:`demo.run_demo`: the
landing page's results table and contact sheet), then :func:`site.build_site` requiring every
copy to be current. (``make demo`` runs the study first; on the tiny demo that order leaves
notebook 06 with no mass inside any mask, and its section 3 fails formatting the undefined
ratio, so the test keeps the order the notebook tests use.) Serves the site from a local
``http.server`` thread on 127.0.0.1 and opens each page in headless Debian Chromium (as
``tests/test_browser.py``); the landing page is also opened from ``file://``, as a reader who
double-clicks ``index.html`` would. Screenshots of the landing page and of notebook 05's page go
to ``outputs/site-browser/``. Marker ``browser`` (``make test-browser``; CI runs it).
"""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from tchexnet_lib import notebooks
from tchexnet_lib.tools import demo, runner, site
from tests import browser_support as bs
from tests import tiny_demo

pytestmark = [pytest.mark.browser, pytest.mark.posix]  # process groups, geteuid

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "outputs" / "site-browser"
LINKS_JS = """() => [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href'))"""
BROKEN_IMAGES_JS = """() => [...document.images]
    .filter(img => !(img.complete && img.naturalWidth > 0)).map(img => img.src.slice(0, 80))"""


@pytest.fixture(scope="module")
def built(tmp_path_factory, request):
    """The tiny demo run, its series executed and stamped, the site built from it."""
    bs.require_tools()
    base = tmp_path_factory.mktemp("site-browser")
    with pytest.MonkeyPatch.context() as patch:
        for variable, value in tiny_demo.environment(
            base, tiny_demo.cache_folder(request.config)
        ).items():
            patch.setenv(variable, value)
        patch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
        weights = tiny_demo.prepare()
        parameters = tiny_demo.parameters(weights, N_BOOTSTRAP=200)
        inputs = {"tiny demo": tiny_demo.CONFIG.to_dict()}
        runner.execute_series(parameters, inputs=inputs, timeout=600)
        demo.run_demo(tiny_demo.CONFIG, progress=False)
        result = site.build_site(expected=site.expected_keys(parameters, inputs))
        yield result


@pytest.fixture(scope="module")
def server(built):
    """The site served on 127.0.0.1 (a free port) by a thread; shut down afterwards."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(built.folder))
    handler.log_message = lambda *args: None
    httpd = http.server.ThreadingHTTPServer((bs.HOST, 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{bs.HOST}:{httpd.server_port}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_the_site_is_built_from_current_copies_only(built):
    assert set(built.states.values()) == {"current"}
    names = {page.name for page in built.pages}
    assert {"index.html", "references.html"} | {f"{n}.html" for n in notebooks.SERIES} <= names
    assert site.site_problems(built.folder) == []


def check_page(page, folder: Path, url: str) -> None:
    """Open ``url``: no console error, every image drawn, every internal link to a site file."""
    page.console_errors.clear()
    page.goto(url, wait_until="load")
    page.wait_for_timeout(200)  # late console errors (scripts run after load)
    assert page.console_errors == [], f"{url}: console errors {page.console_errors}"
    assert page.evaluate(BROKEN_IMAGES_JS) == [], f"{url}: images that did not load"
    here = Path(unquote(urlsplit(url).path)).parent
    for href in page.evaluate(LINKS_JS):
        parts = urlsplit(href)
        if parts.scheme or parts.netloc or not parts.path:
            continue  # another site, or an anchor on this page
        target = (folder / here.relative_to("/") / unquote(parts.path)).resolve()
        assert target.is_file() and folder.resolve() in target.parents, f"{url}: {href}"


def test_every_page_loads_clean_with_its_images_and_links(built, server):
    pages = ["index.html", *(f"{n}.html" for n in notebooks.SERIES), "references.html"]
    SHOTS.mkdir(parents=True, exist_ok=True)
    with bs.chromium_page(viewport=(1400, 1000)) as page:
        for name in pages:
            check_page(page, built.folder, f"{server}/{name}")
            if name == "index.html":
                assert page.locator("img[src*='contact_sheet']").count() == 1
                assert "paired DeLong" in page.locator("article").inner_text()
                page.screenshot(path=SHOTS / "landing.png", full_page=True)
            else:
                assert page.locator(".tchexnet-run-yourself").count() == (name != "references.html")
        project = [p.relative_to(built.folder).as_posix() for p in built.pages]
        for name in sorted(set(project) - set(pages)):  # the README and docs/ pages
            check_page(page, built.folder, f"{server}/{name}")
        assert "docs/results.html" in project and "about.html" in project
        check_page(page, built.folder, f"{server}/05_roc_comparison.html")
        twin = page.locator(".tchexnet-static-twin")
        assert twin.count() == 1 and "static twin" in twin.inner_text()
        assert page.locator(".tchexnet-roc-explorer img").evaluate("img => img.naturalWidth") > 0
        assert page.get_by_text("Error displaying widget").count() == 0
        page.screenshot(path=SHOTS / "05_roc_comparison.png", full_page=True)
    for name in ("landing.png", "05_roc_comparison.png"):
        assert (SHOTS / name).stat().st_size > 10_000, name


def test_the_landing_page_opens_from_disk(built):
    with bs.chromium_page() as page:
        page.goto(built.index.resolve().as_uri(), wait_until="load")
        page.wait_for_timeout(200)
        assert page.console_errors == []
        assert page.evaluate(BROKEN_IMAGES_JS) == []
        page.locator("a[href='05_roc_comparison.html']").first.click()
        page.wait_for_load_state("load")
        assert page.url.endswith("05_roc_comparison.html") and page.console_errors == []
