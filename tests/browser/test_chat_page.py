"""The chat page at `/`, driven in headless Chromium (Debian's chromium and chromedriver).

Two pages chat; one closes its tab and the other sees it leave; a page on a foreign Origin is
refused; names and texts from the server show as text, never as HTML. Screenshots land in the
test's own folder (tmp_path). Skipped, with the reason, where no browser is installed; CI
installs one (.ci/run).
"""

from __future__ import annotations

import contextlib
import http.server
import os
import shutil
import threading
from collections.abc import Iterator

import pytest

from reference_server.embedded import running_server
from reference_server.page import PAGE
from reference_server.settings import Settings

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
NO_BROWSER = "no Chromium here: apt-get install chromium chromium-driver (CI installs them)"
if not (CHROMIUM and DRIVER) and os.environ.get("CI") == "true":
    pytest.fail(f"CI=true but {NO_BROWSER}", pytrace=False)  # never a silent skip in CI
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER), reason=NO_BROWSER)
WAIT = 10


@pytest.fixture
def browser() -> Iterator[object]:
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=900,700",
    ):
        options.add_argument(flag)
    options.binary_location = CHROMIUM
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(WAIT)
    try:
        yield driver
    finally:
        driver.quit()


def _join(driver, url: str, room: str, name: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(url)
    form = driver.find_element(By.ID, "join")
    form.find_element(By.NAME, "room").clear()
    form.find_element(By.NAME, "room").send_keys(room)
    form.find_element(By.NAME, "name").send_keys(name)
    form.submit()


def _log(driver) -> list[str]:
    from selenium.webdriver.common.by import By

    return [li.text for li in driver.find_elements(By.CSS_SELECTOR, "#log li")]


def _until(driver, check, what: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, WAIT).until(lambda d: check(d), message=what)


def _say(driver, text: str) -> None:
    from selenium.webdriver.common.by import By

    form = driver.find_element(By.ID, "say")
    form.find_element(By.NAME, "text").send_keys(text)
    form.submit()


def test_two_pages_chat_and_one_leaving_is_seen(browser, tmp_path):
    with running_server(Settings(page_origin=True)) as ws_url:
        page = ws_url.replace("ws://", "http://") + "/"
        driver = browser
        _join(driver, page, "lobby", "ann")
        first = driver.current_window_handle
        _until(driver, lambda d: any("Welcome to lobby" in t for t in _log(d)), "ann's welcome")
        driver.switch_to.new_window("tab")
        second = driver.current_window_handle
        _join(driver, page, "lobby", "bob")
        _until(driver, lambda d: any("2 online" in t for t in _log(d)), "bob's welcome")
        _say(driver, "hello from bob")
        driver.switch_to.window(first)
        _until(driver, lambda d: "bob joined" in _log(d), "ann sees bob join")
        _until(driver, lambda d: "bobhello from bob" in _log(d), "ann sees bob's message")
        driver.save_screenshot(str(tmp_path / "chatting.png"))
        driver.switch_to.window(second)
        driver.close()  # bob closes his tab
        driver.switch_to.window(first)
        _until(driver, lambda d: "bob left" in _log(d), "ann sees bob leave")
        driver.save_screenshot(str(tmp_path / "bob-left.png"))
    assert (tmp_path / "bob-left.png").stat().st_size > 0


def test_names_and_texts_show_as_text_never_as_html(browser, tmp_path):
    with running_server(Settings(page_origin=True)) as ws_url:
        page = ws_url.replace("ws://", "http://") + "/"
        driver = browser
        _join(driver, page, "xss", "<script>window.pwned=1</script>")
        _until(driver, lambda d: any("Welcome" in t for t in _log(d)), "the welcome")
        html = '<img src=x onerror="window.pwned=2"><b>bold</b>'
        _say(driver, html)
        _until(driver, lambda d: any(html in t for t in _log(d)), "the message, as typed")
        driver.save_screenshot(str(tmp_path / "as-text.png"))
        injected = driver.execute_script(
            "return [window.pwned, document.querySelectorAll('#log img, #log b, #log script')"
            ".length]"
        )
    assert injected == [None, 0]
    names = [t for t in _log(driver) if t.endswith(html)]
    assert names and names[0].startswith("scriptwindow.pwned=1/script")  # sanitized, as text


@contextlib.contextmanager
def _foreign_site() -> Iterator[str]:
    """The same page served from another origin (another port), pointed at the chat server."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = PAGE.html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(WAIT)


def test_a_page_on_a_foreign_origin_is_refused(browser, tmp_path):
    with running_server(Settings(page_origin=True)) as ws_url, _foreign_site() as foreign:
        target = ws_url.removeprefix("ws://")
        driver = browser
        _join(driver, f"{foreign}/?server={target}", "lobby", "mallory")
        from selenium.webdriver.common.by import By

        def refused(d) -> bool:
            return "Disconnected" in d.find_element(By.ID, "status").text

        _until(driver, refused, "the handshake refused")
        driver.save_screenshot(str(tmp_path / "foreign-refused.png"))
        assert not any("Welcome" in t for t in _log(driver))
