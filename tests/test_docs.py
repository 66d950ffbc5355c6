"""The docs site (`make docs` → `_site/`) in a real browser: headless Chromium (Debian's `chromium` and
`chromium-driver`, driven by selenium) opens the landing page, a chapter, an experiment and the report from a local
HTTP server, with no console errors and nothing fetched from outside; the chapter's figures are decoded images; the
site's search finds a function; screenshots of each page go to `_site/_screens/`.

The site is built here by `docs/build_site.py` (chapters executed once and cached in `_build/docs/`, so a second
build takes seconds). Set STORYLAB_DOCS_PREBUILT=1 to test the `_site/` that `make docs` already built instead. Experiments come
from `reports/runs/` when `make report` has run, else from the session's smoke runs (`smoke_home`)."""
import functools, http.server, json, os, shutil, subprocess, sys, threading, time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SITE = REPO / "_site"
SCREENS = SITE / "_screens"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
CHAPTER = "01_storyworld"   # a chapter with a figure among its outputs and exported functions
FUNCTION = "bootstrap_ci"   # an exported function the search must find (chapter 04_metrics)

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="no headless Chromium: install Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)")


def _repo_runs():
    from storylab.report import newest_runs
    runs = REPO / "reports" / "runs"
    recs = newest_runs(runs) if runs.exists() else {}
    return runs if any((Path(r["run_dir"]) / f"{n}.ipynb").exists() for n, r in recs.items()) else None


@pytest.fixture(scope="module")
def site(request):
    "The built site folder (built now unless STORYLAB_DOCS_PREBUILT=1) and how long the build took."
    if os.environ.get("STORYLAB_DOCS_PREBUILT") == "1":
        assert (SITE / "index.html").exists(), "STORYLAB_DOCS_PREBUILT=1 but there is no _site/index.html: run `make docs`"
        return SITE
    runs = _repo_runs() or request.getfixturevalue("smoke_home") / "reports" / "runs"
    t0 = time.time()
    res = subprocess.run([sys.executable, str(REPO / "docs" / "build_site.py"), "--runs", str(runs)], cwd=REPO,
                         capture_output=True, text=True, timeout=1800)
    print(f"docs build: {time.time() - t0:.0f} s (experiments from {runs})")
    assert res.returncode == 0, (f"docs/build_site.py exited {res.returncode}\n{res.stderr[-6000:]}\n"
                                 f"--- its output ---\n{res.stdout[-3000:]}")
    return SITE


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args): pass


@pytest.fixture(scope="module")
def base_url(site):
    "`_site/` served on a free localhost port for the duration of this module."
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(site)))
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/"
    srv.shutdown(); srv.server_close()


@pytest.fixture(scope="module")
def browser():
    "Headless Chromium from Debian's package, its console collected through the DevTools logging API."
    os.environ.setdefault("SE_OFFLINE", "true")       # selenium-manager: never look for a driver or browser online
    os.environ.setdefault("SE_AVOID_STATS", "true")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000",
              "--hide-scrollbars", "--no-first-run", "--disable-extensions"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    drv.set_page_load_timeout(60)
    yield drv
    drv.quit()


def _open(drv, url):
    "Load `url`, wait for the page to settle, and return (console errors, resources fetched from other origins)."
    drv.get_log("browser")  # drop what an earlier page left
    drv.get(url)
    from selenium.webdriver.support.ui import WebDriverWait
    WebDriverWait(drv, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")
    time.sleep(0.5)  # scripts that run after load (theme, search) log their errors by now
    errors = [e for e in drv.get_log("browser") if e["level"] == "SEVERE"]
    origin = url.split("/", 3)[:3]
    foreign = [n for n in drv.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
               if n.split("/", 3)[:3] != origin and not n.startswith("data:")]
    return errors, foreign


def _images(drv, selector):
    "[(complete, naturalWidth, naturalHeight, src)] of the images matching `selector`, after scrolling them into view."
    return drv.execute_script(f"""
        const imgs = [...document.querySelectorAll({json.dumps(selector)})];
        imgs.forEach(i => i.scrollIntoView());
        return imgs.map(i => [i.complete, i.naturalWidth, i.naturalHeight, i.getAttribute('src')]);""")


def _wait_images(drv, selector, timeout=20):
    t0 = time.time()
    while True:
        imgs = _images(drv, selector)
        if all(c for c, *_ in imgs) or time.time() - t0 > timeout: return imgs
        time.sleep(0.2)


def _shot(drv, name, scroll_to=None):
    SCREENS.mkdir(parents=True, exist_ok=True)
    drv.execute_script("window.scrollTo(0, 0)")
    if scroll_to: drv.execute_script(f"const e = document.querySelector({json.dumps(scroll_to)}); if (e) e.scrollIntoView();")
    path = SCREENS / f"{name}.png"
    drv.save_screenshot(str(path))
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000, f"{path}: not a real screenshot ({len(data)} bytes)"
    return path


def _nav(drv):
    "The site navigation's links, in order, as paths relative to the site root."
    hrefs = drv.execute_script("return [...document.querySelectorAll('nav.bd-docs-nav a.reference')].map(a => a.href)")
    base = drv.current_url.rsplit("/", 1)[0] + "/"
    return [h[len(base):] for h in hrefs if h.startswith(base)]


def test_landing_page_and_navigation(browser, base_url):
    errors, foreign = _open(browser, base_url + "index.html")
    assert not errors, f"console errors on the landing page: {errors}"
    assert not foreign, f"the landing page fetched from outside the site: {foreign}"
    assert browser.find_element("css selector", "article h1").text.strip().startswith("storylab")
    nav = _nav(browser)
    chapters = [n for n in nav if n.startswith("chapters/")]
    expected = sorted(p.stem for p in (REPO / "nbs").glob("*.ipynb") if p.name != "index.ipynb" and p.name[0] not in "_.")
    assert [Path(c).stem for c in chapters] == expected, f"chapters in the navigation: {chapters}"
    experiments = [n for n in nav if n.startswith("experiments/")]
    assert experiments, f"no experiment pages in the navigation: {nav}"
    assert "reports/REPORT.html" in nav, nav
    pos = {n: i for i, n in enumerate(nav)}
    assert max(pos[c] for c in chapters) < min(pos[e] for e in experiments) < pos["reports/REPORT.html"], nav
    _shot(browser, "landing")


def test_chapter_page_outputs_figures_and_api(browser, base_url):
    errors, foreign = _open(browser, base_url + f"chapters/{CHAPTER}.html")
    assert not errors, f"console errors on {CHAPTER}: {errors}"
    assert not foreign, f"{CHAPTER} fetched from outside the site: {foreign}"
    imgs = _wait_images(browser, "div.cell_output img")
    assert imgs, f"{CHAPTER}: no figure among the cell outputs"
    bad = [i for i in imgs if not (i[0] and i[1] > 0 and i[2] > 0)]
    assert not bad, f"{CHAPTER}: figures that did not render (complete, width, height, src): {bad}"
    outputs = browser.find_elements("css selector", "div.cell_output")
    assert len(outputs) >= 5, f"{CHAPTER}: only {len(outputs)} cell outputs: was it executed?"
    # show_doc: every function/class the chapter's module exports has its signature on the page
    import ast
    mod = REPO / "storylab" / "storyworld.py"
    tree = ast.parse(mod.read_text())
    exported = next(ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)
                    and any(getattr(t, "id", None) == "__all__" for t in n.targets))
    names = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name in exported}
    assert len(names) >= 5, f"{mod.name}: expected exported functions and classes, found {sorted(names)}"
    text = browser.find_element("css selector", "main").get_attribute("textContent")
    missing = sorted(n for n in names if f"def {n}(" not in text and f"class {n}(" not in text)
    assert not missing, f"{CHAPTER}: exported names with no show_doc signature on the page: {missing}"
    _shot(browser, "chapter", scroll_to="div.cell_output img")


def test_experiment_page_shows_its_run_figures(browser, base_url):
    _open(browser, base_url + "index.html")
    exp = next(n for n in _nav(browser) if n.startswith("experiments/"))
    errors, foreign = _open(browser, base_url + exp)
    assert not errors, f"console errors on {exp}: {errors}"
    assert not foreign, f"{exp} fetched from outside the site: {foreign}"
    assert "executed by run" in browser.find_element("css selector", "main").text
    imgs = _wait_images(browser, "figure img")
    assert imgs, f"{exp}: the run's figures are not on the page"
    bad = [i for i in imgs if not (i[0] and i[1] > 0 and i[2] > 0)]
    assert not bad, f"{exp}: figures that did not render: {bad}"
    _shot(browser, "experiment", scroll_to="figure img")


def test_report_page(browser, base_url):
    errors, foreign = _open(browser, base_url + "reports/REPORT.html")
    assert not errors, f"console errors on the report: {errors}"
    assert not foreign, f"the report fetched from outside the site: {foreign}"
    assert browser.find_element("css selector", "article h1").text.strip().startswith("storylab report")
    assert browser.find_elements("css selector", "main table"), "the report's tables are missing"
    imgs = _wait_images(browser, "main img")
    assert imgs and all(c and w > 0 and h > 0 for c, w, h, _ in imgs), f"report figures: {imgs}"
    _shot(browser, "report")


def test_search_finds_a_function(browser, base_url):
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait
    _open(browser, base_url + "index.html")
    # as a reader does: the search button opens the theme's search dialog, then type the name and press Enter
    next(b for b in browser.find_elements("css selector", "button.search-button__button") if b.is_displayed()).click()
    box = WebDriverWait(browser, 10).until(
        lambda d: next((e for e in d.find_elements("css selector", "input[name='q']") if e.is_displayed()), None))
    box.send_keys(FUNCTION, Keys.ENTER)
    WebDriverWait(browser, 30).until(lambda d: "search.html" in d.current_url)
    hits = WebDriverWait(browser, 30).until(
        lambda d: d.find_elements("css selector", "#search-results ul.search li a") or None)
    hrefs = [h.get_attribute("href") for h in hits]
    assert any("chapters/04_metrics.html" in h for h in hrefs), f"search for {FUNCTION}: {hrefs}"
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, f"console errors on the search page: {errors}"
    _shot(browser, "search")


def test_math_is_rendered_offline(site):
    html = (site / "chapters" / "14_pref_align.html").read_text()
    assert html.count("<math") >= 5, "the DPO chapter's formulas are not rendered as MathML"
    assert "$$" not in html and "\\log\\pi" not in html.replace("<annotation", ""), "raw LaTeX left on the page"
