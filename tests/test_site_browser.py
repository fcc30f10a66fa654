"""The catalog as a visitor sees it: Debian's chromium driven by Playwright against a published mirror plus its
site served from 127.0.0.1. Every page loads with no console error and no failed request, every picture decodes,
every internal link resolves; the filter, the sorting and a copy button work; screenshots at 1280 and 390 px wide
are written for a person to look at (the folder is printed; ZOO_SCREENSHOTS chooses it).

Without chromium or Playwright these tests fail with the install line: CI installs both (.ci/run, the dev extra)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import mirror_folder, shared_files

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
INSTALL = ("apt-get update && apt-get install -y chromium, and pip install playwright (zoo's dev extra); "
           "never `playwright install`, which downloads a browser of its own")
FACE = "face-detection-short-range"


def _zoo(*args: str, env: dict) -> None:
    done = subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The face detector's float file fetched from the shared data (a loopback mirror), published to a folder with
    the site rendered beside it (example picture included), that folder served on 127.0.0.1."""
    from loopback import StaticServer

    pytest.importorskip("ai_edge_litert")
    files = shared_files()
    if "grace_hopper.bmp" not in files:
        pytest.skip("MediaPipe's test files are not in ../shared (../shared is absent)")
    root = tmp_path_factory.mktemp("browser")
    images = root / "images"
    images.mkdir()
    shutil.copyfile(files["grace_hopper.bmp"], images / "object-detection.bmp")
    env = {k: v for k, v in os.environ.items() if k not in ("ZOO_MANIFESTS", "ZOO_OFFLINE", "ZOO_TARGET")}
    env["ZOO_CACHE_DIR"] = str(root / "cache")
    hub = root / "hub"
    with StaticServer(mirror_folder(root / "mirror")) as mirror:
        _zoo("fetch", f"{FACE}/cpu", "-q", env={**env, "ZOO_MIRRORS": mirror.base})
    _zoo("publish", FACE, "--to", str(hub), "-q", env=env)  # the files in the cache; the others are skipped
    _zoo("site", "-o", str(hub), "--examples", str(images), "-q", env=env)
    with StaticServer(hub) as site:
        yield site.base + "/", hub


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"chromium is not installed ({CHROMIUM}): {INSTALL}", pytrace=False)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(f"Playwright for Python is not installed: {INSTALL}", pytrace=False)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


class Visit:
    """A page with everything that went wrong while it loaded: console errors, page errors, failed requests."""

    def __init__(self, browser, url: str, width: int = 1280, **context):
        self.context = browser.new_context(viewport={"width": width, "height": 900}, **context)
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.page.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("requestfailed", lambda r: self.problems.append(f"request failed: {r.url} {r.failure}"))
        self.page.on("response", lambda r: self.problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
        self.page.goto(url, wait_until="load")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.context.close()


def _pages(hub: Path) -> list[str]:
    return ["index.html", *sorted(f"models/{p.name}" for p in (hub / "models").glob("*.html"))]


def test_every_page_loads_clean_its_pictures_decode_and_its_links_resolve(served, browser):
    base, hub = served
    pages, checked = _pages(hub), {}
    assert len(pages) >= 12 and f"models/{FACE}.html" in pages
    pictures = 0
    for name in pages:
        with Visit(browser, base + name) as v:
            v.page.wait_for_load_state("networkidle")
            images = v.page.evaluate("Array.from(document.images).map(i => [i.currentSrc, i.complete, i.naturalWidth, "
                                     "i.naturalHeight, i.alt])")
            for src, complete, w, h, alt in images:
                assert complete and w > 0 and h > 0 and alt.strip(), (name, src, w, h, alt)
            pictures += len(images)
            links = v.page.evaluate("Array.from(document.querySelectorAll('a[href]')).map(a => a.href)")
            for link in links:
                if not link.startswith(base):
                    continue
                target, _, fragment = link.partition("#")
                if fragment:
                    assert target != base + name or v.page.locator(f"[id='{fragment}']").count() == 1, (name, link)
                if target not in checked:
                    try:
                        with urllib.request.urlopen(urllib.request.Request(target, method="HEAD")) as r:
                            checked[target] = r.status
                    except urllib.error.HTTPError as e:
                        checked[target] = e.code
                assert checked[target] == 200, (name, link, checked[target])
            assert v.problems == [], (name, v.problems)
    assert pictures >= 1, "the face detector's example picture is on its page"
    assert any(u.endswith(".tflite") for u in checked), "the mirrored file is linked and served"


def test_the_pages_work_from_file_urls_too(served, browser):
    """Opened from the disk, with no server: nothing is fetched from elsewhere, the filter still works."""
    _, hub = served
    for page in ("index.html", f"models/{FACE}.html"):
        with Visit(browser, (hub / page).as_uri()) as v:
            assert v.page.evaluate("document.styleSheets.length") == 1 and v.page.evaluate(
                "getComputedStyle(document.body).fontFamily").startswith("system-ui"), "the stylesheet loaded"
            if page == "index.html":
                v.page.fill("#q", "face")
                assert v.page.text_content("#count") != f"{len(_pages(hub)) - 1} shown"
            assert v.problems == [], (page, v.problems)


def test_typing_face_leaves_only_the_face_models_and_the_selects_filter(served, browser):
    base, hub = served
    rows = json.loads((hub / "index.json").read_text())["models"]
    expected = {r["name"] for r in rows if "face" in " ".join([r["name"], *r["aliases"], r["task"], r["family"],
                                                               r["summary"]]).lower()}
    assert FACE in expected and len(expected) < len(rows)
    with Visit(browser, base + "index.html") as v:
        shown = lambda: v.page.eval_on_selector_all(  # noqa: E731
            "#models tbody tr:not([hidden])", "rs => rs.map(r => r.querySelector('a').textContent)")
        assert len(shown()) == len(rows)
        v.page.fill("#q", "face")
        assert set(shown()) == expected and v.page.text_content("#count") == f"{len(expected)} shown"
        v.page.fill("#q", "")
        v.page.select_option("#f-target", "imx93")
        assert set(shown()) == {r["name"] for r in rows if "imx93" in [t["name"] for t in r["targets"]]}
        v.page.select_option("#f-task", "semantic-segmentation")
        assert set(shown()) == {r["name"] for r in rows if r["task"] == "semantic-segmentation"
                                and "imx93" in [t["name"] for t in r["targets"]]}
        v.page.fill("#q", "no such model anywhere")
        assert shown() == [] and v.page.is_visible("#empty")
        assert v.problems == []


def test_columns_sort(served, browser):
    base, hub = served
    rows = json.loads((hub / "index.json").read_text())["models"]
    with Visit(browser, base + "index.html") as v:
        names = lambda: v.page.eval_on_selector_all("#models tbody tr", "rs => rs.map(r => r.querySelector('a').textContent)")  # noqa: E731
        assert names() == sorted(r["name"] for r in rows)
        v.page.click("#models th:nth-child(1) button")
        assert names() == sorted((r["name"] for r in rows), reverse=True)
        v.page.click("#models th:nth-child(7) button")
        sizes = v.page.eval_on_selector_all("#models tbody tr", "rs => rs.map(r => parseFloat(r.cells[6].dataset.v))")
        assert sizes == sorted(sizes) and sizes != sorted(sizes, reverse=True)
        assert v.page.get_attribute("#models th:nth-child(7)", "aria-sort") == "ascending"
        assert v.problems == []
    with Visit(browser, base + "index.html", width=390) as v:  # a phone has no column headers: a select sorts
        assert not v.page.is_visible("#models thead") and v.page.is_visible("#sort")
        v.page.select_option("#sort", "6")
        sizes = v.page.eval_on_selector_all("#models tbody tr", "rs => rs.map(r => parseFloat(r.cells[6].dataset.v))")
        assert sizes == sorted(sizes) and v.problems == []


def test_a_copy_button_puts_the_command_on_the_clipboard(served, browser):
    base, _ = served
    with Visit(browser, f"{base}models/{FACE}.html", permissions=["clipboard-read", "clipboard-write"]) as v:
        button = v.page.locator("#run button.copy").first
        button.click()
        v.page.wait_for_function("document.querySelector('#run button.copy').textContent === 'copied'")
        assert v.page.evaluate("navigator.clipboard.readText()") == f"zoo fetch {FACE}"
        mirror = v.page.locator("code[data-mirror]").text_content()
        assert mirror == f"ZOO_MIRRORS={base} zoo fetch {FACE}", "the mirror command names the folder it is served from"
        assert v.problems == []


def test_screenshots_at_desktop_and_phone_width(served, browser):
    base, _ = served
    folder = Path(os.environ.get("ZOO_SCREENSHOTS") or Path(tempfile.gettempdir()) / "zoo-site-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    for width in (1280, 390):
        for name, page in (("index", "index.html"), ("model", f"models/{FACE}.html")):
            with Visit(browser, base + page, width=width) as v:
                v.page.wait_for_load_state("networkidle")
                overflow = v.page.evaluate("document.documentElement.scrollWidth")
                assert overflow <= width, f"{page} is {overflow} px wide at a {width} px viewport"
                path = folder / f"{name}-{width}.png"
                v.page.screenshot(path=str(path), full_page=True)
                assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
                assert v.problems == []
    print(f"\nscreenshots of the catalog: {folder}")
