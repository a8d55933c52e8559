"""Browser tests: Playwright for Python driving the system Chromium against pytest-django's live server.

- The browser is the machine's Chromium (``/usr/bin/chromium`` from apt, or ``$CHROMIUM``), never a
  browser Playwright downloads. Without one the tests skip with the reason — unless
  ``REQUIRE_BROWSER=1`` (CI), where a missing browser fails them.
- One Playwright and one browser for the whole folder; one new browser context (cookies, storage)
  per signed-in person per test, closed after it.
- ``live_server`` is a threaded WSGI server in this process on the transactional test database, so
  rows built through the services in a test are what the browser sees, and real Celery workers
  (``celery_processes``) write to the same database.
- When a test fails, every page it opened is saved as a PNG in a temporary folder and the paths are
  printed with the failure ("Browser screenshots" section).
- The pages run under the portal's Content-Security-Policy: a CSP violation, a console error or an
  uncaught exception on any page fails the test (after it ran), listing each. A test that provokes an
  error on purpose (a refused request shows up as "Failed to load resource") says so first with
  ``allow_console_errors(page, pattern)``; CSP violations are never allowed.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
VIEWPORT = {"width": 1300, "height": 850}
#: Playwright's default waits (milliseconds): generous for a shared 2-core machine, still bounded.
TIMEOUT_MS = 15_000

# Chromium resolves "localhost" to ::1 first; the live server listens on IPv4.
os.environ.setdefault("DJANGO_LIVE_TEST_SERVER_ADDRESS", "127.0.0.1")


def chromium_path() -> str | None:
    """The system Chromium: ``$CHROMIUM`` when set (and only it), else the apt package's binary."""
    explicit = os.environ.get("CHROMIUM")
    candidates = [explicit] if explicit else ["/usr/bin/chromium", shutil.which("chromium")]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def _missing(reason: str):
    if os.environ.get("REQUIRE_BROWSER") == "1":
        pytest.fail(f"REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    pytest.skip(f"{reason} — browser tests skipped (set REQUIRE_BROWSER=1 to make this a failure)")


@pytest.fixture(scope="package")
def browser():
    """One headless system Chromium for the folder's tests.

    Package-scoped rather than session-scoped on purpose: while Playwright's sync API is running its
    event loop sits in this thread, and Django refuses ORM calls from a thread with a running loop
    (SynchronousOnlyOperation). The tests here build their data through the services in this
    thread, so DJANGO_ALLOW_ASYNC_UNSAFE is set while the browser is up and removed with it — the
    rest of the suite runs with Django's check intact."""
    path = chromium_path()
    if path is None:
        where = os.environ.get("CHROMIUM") or "/usr/bin/chromium"
        _missing(f"no Chromium was found at {where} (install it with `apt-get install chromium`)")
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        _missing("Playwright for Python is not installed (`make install` installs the dev extras)")
    expect.set_options(timeout=TIMEOUT_MS)
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    pw = sync_playwright().start()
    try:
        chromium = pw.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        pw.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


#: Reported to the console by every page (an init script runs before the page's own, outside its policy).
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => {
  console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline code"}`
    + ` at ${e.sourceFile || location.href}:${e.lineNumber}`);
});
"""
CSP_VIOLATION = re.compile(
    r"CSP violation|Content Security Policy|Refused to (execute|apply|load|evaluate|connect|frame)"
)


def allow_console_errors(page, pattern: str):
    """Console errors of ``page`` that match ``pattern`` (a regex) are expected from here on: e.g. the
    "Failed to load resource: ... 400" Chromium logs for a request the server refuses on purpose."""
    page._allowed_console_errors.append(re.compile(pattern))


def answer_dialogs(page, accept: bool):
    """From here on, a confirmation dialog of ``page`` is answered with OK (True) or Cancel (False)."""
    page._accept_dialogs = accept


@pytest.fixture
def new_page(request, browser, live_server):
    """``new_page()`` → a page in a fresh browser context (its own cookies) on the live server.
    Call it once per person in the test; every context is closed after the test, and the test fails if
    any page met a CSP violation, logged a console error or threw an uncaught exception."""
    contexts = []
    problems: list[str] = []
    request.node._browser_pages = []

    def make():
        context = browser.new_context(base_url=live_server.url, viewport=VIEWPORT)
        context.set_default_timeout(TIMEOUT_MS)
        context.set_default_navigation_timeout(TIMEOUT_MS)
        context.add_init_script(REPORT_CSP_VIOLATIONS)
        contexts.append(context)
        page = context.new_page()
        page._allowed_console_errors = []

        def on_console(message):
            if message.type != "error":
                return
            text = message.text
            if not CSP_VIOLATION.search(text) and any(p.search(text) for p in page._allowed_console_errors):
                return
            source = (message.location or {}).get("url") or ""
            problems.append(f"console error on {page.url}: {text}" + (f" ({source})" if source else ""))

        page.on("console", on_console)
        page.on("pageerror", lambda error: problems.append(f"uncaught exception on {page.url}: {error}"))
        # Destructive actions ask for confirmation (window.confirm): a person clicks OK (or, after
        # answer_dialogs(page, False), Cancel).
        page._accept_dialogs = True
        page.on("dialog", lambda dialog: dialog.accept() if page._accept_dialogs else dialog.dismiss())
        request.node._browser_pages.append(page)
        return page

    yield make
    for context in contexts:
        context.close()
    if problems:
        pytest.fail(
            "The browser reported problems (CSP violations are never allowed; expected console errors are "
            "declared with allow_console_errors):\n  " + "\n  ".join(problems),
            pytrace=False,
        )


@pytest.fixture
def page(new_page):
    """A page in its own browser context, for tests with one person."""
    return new_page()


def sign_in(page, username: str, password: str):
    """Sign in through the real form at /login/ and land on All resources."""
    from playwright.sync_api import expect

    page.goto("/login/")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    expect(page.get_by_role("heading", name="All resources", exact=True)).to_be_visible()
    return page


def htmx_settled(page):
    """Wait until htmx has no request in flight and has finished swapping and settling: a click on
    content htmx is about to replace would be lost."""
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling, .htmx-added')"
    )


#: Replication of a few small VHDs on a shared 2-core machine: done in seconds, bounded generously.
REPLICATION_TIMEOUT_MS = 90_000


def watch_until_complete(page, region_names: list[str]):
    """On a version page: every region's row of the replication panel says Completed with its bar at
    100 %, and the panel no longer asks htmx to poll."""
    from playwright.sync_api import expect

    panel = page.locator("#replication")
    for name in region_names:
        row = panel.locator("tbody tr", has_text=name)
        expect(row).to_contain_text("Completed", timeout=REPLICATION_TIMEOUT_MS)
        expect(row.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100")
        expect(row).to_contain_text("100%")
    expect(panel).not_to_have_attribute("hx-trigger", re.compile("."))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On a failure, save a screenshot of every page the test opened and print where."""
    outcome = yield
    report = outcome.get_result()
    pages = getattr(item, "_browser_pages", None)
    if not pages or not report.failed or report.when not in ("setup", "call"):
        return
    folder = Path(tempfile.mkdtemp(prefix="browser-failure-"))
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", item.name)[:80]
    lines = []
    for i, p in enumerate(pages):
        target = folder / f"{stem}-{i}.png"
        try:
            p.screenshot(path=str(target), full_page=True)
            lines.append(f"{target}  ({p.url})")
        except Exception as exc:  # the page or browser may be what failed
            lines.append(f"page {i} ({getattr(p, 'url', '?')}): no screenshot: {exc}")
    report.sections.append(("Browser screenshots", "\n".join(lines)))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """Every browser test talks to a live server in another thread, so its data must be committed:
    mark it transactional before pytest-django orders the tests, so it runs with the transactional
    tests (whose database flush would otherwise empty the seeded catalogues under later tests)."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.django_db(transaction=True))
