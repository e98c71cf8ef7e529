"""What a reader's browser shows: every built page opened in headless Chromium at a desktop and a phone width,
with the equations, tables and figures that do not fit measured (issue 19 item 3).

An element is *clipped* when part of it lies outside an ancestor that hides its overflow, or to the left of one that
scrolls (a scroll bar only reaches what overflows to the right): the reader cannot see all of it. A figure's text is
too small when, at the size the page shows the figure, it is under :data:`marginlib.book.plots.MIN_TEXT_PX`; a
figure needs an ``alt`` text that is not its file name. The page is driven through ChromeDriver's W3C WebDriver
protocol (standard library only), because headless Chromium will not make a window narrower than 500 px: the phone
width is set by device emulation. Debian's ``chromium`` and ``chromium-driver`` (``$CHROMIUM``, ``$CHROMEDRIVER``
override the paths).
"""
from __future__ import annotations

import json
import os
import pathlib
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from marginlib.book.plots import FIGURE_DPI, FIGURE_FONT_PT, MIN_TEXT_PX

#: the widths a page is checked at: a desktop and a phone, in CSS pixels
WIDTHS = (1280, 420)
#: Chromium's flags for a closed network (no background connections, no first-run work)
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--disable-dev-shm-usage")

#: the report of a page that had not loaded and typeset its math after :data:`TYPESET_MS` (the check opens it
#: once more before reporting it)
NOT_TYPESET = "math not typeset"
TYPESET_MS = 10_000
#: run in the page (WebDriver's execute/async): wait for MathJax to typeset, then list what does not fit
MEASURE = r"""
var done = arguments[arguments.length - 1], fontPx = arguments[0], minPx = arguments[1], lateMs = arguments[2];
var NOT_TYPESET = arguments[3];
function hides(el) { return getComputedStyle(el).overflowX !== "visible"; }
function scrolls(el) { var o = getComputedStyle(el).overflowX; return o === "auto" || o === "scroll"; }
function label(el) {
  var t = (el.tagName === "IMG" ? el.getAttribute("src") : el.textContent) || "";
  return el.tagName.toLowerCase() + ": " + t.replace(/\s+/g, " ").trim().slice(0, 60);
}
function clippedBy(el, r) {          // pixels of rect r that an ancestor of el hides, 0 if none
  for (var a = el; a && a !== document.documentElement; a = a.parentElement) {
    if (!hides(a)) continue;
    var b = a.getBoundingClientRect();
    var lost = Math.max(b.left - r.left, 0) + (scrolls(a) ? 0 : Math.max(r.right - b.right, 0));
    if (lost > 1) return lost;
    if (scrolls(a)) r = b;           // what it holds is reachable: from here on, its own box is what shows
  }
  var view = document.documentElement.clientWidth;
  return Math.max(-r.left, 0) + Math.max(r.right - view, 0) > 1 ? Math.max(r.right - view, -r.left) : 0;
}
function measure() {
  var found = [], main = document.querySelector("main") || document.body;
  main.querySelectorAll('mjx-container[display="true"], table').forEach(function (el) {
    var inner = el.tagName === "TABLE" ? el : (el.firstElementChild || el);
    var lost = clippedBy(inner === el ? el.parentElement : el, inner.getBoundingClientRect());
    if (lost) found.push({kind: "clipped", what: label(el), by: Math.round(lost)});
  });
  main.querySelectorAll("img").forEach(function (img) {
    if (!img.naturalWidth || !/_images\/.*\.png$/i.test(img.getAttribute("src") || "")) return;
    var text = fontPx * img.getBoundingClientRect().width / img.naturalWidth;
    if (text < minPx) found.push({kind: "small figure text", what: label(img), px: Math.round(text * 10) / 10});
    var alt = img.getAttribute("alt") || "";
    if (!alt || alt === img.getAttribute("src")) found.push({kind: "no alt text", what: label(img)});
  });
  done(found);
}
function safely() {                 // an error in the check is reported, never a silent script timeout
  try { measure(); } catch (e) { done([{kind: "check failed", what: String(e).slice(0, 120)}]); }
}
function loaded() {                 // the new page's document (the script can start before it replaced the old)
  return new Promise(function (resolve) {
    (function poll() {
      if (document.readyState === "complete" && document.body) resolve(); else setTimeout(poll, 50);
    })();
  });
}
var late = new Promise(function (resolve) { setTimeout(function () { resolve("late"); }, lateMs); });
var typeset = loaded().then(function () {
  var ready = window.MathJax && MathJax.startup && MathJax.startup.promise;
  return (ready ? MathJax.startup.promise : Promise.resolve()).then(function () { return "typeset"; });
});
Promise.race([typeset, late]).then(function (state) {
  if (state === "late") done([{kind: NOT_TYPESET, what: "the page had not loaded and typeset its math after " + lateMs
                                + " ms (" + document.readyState + ")"}]);
  else setTimeout(safely, 100);
});
"""


def chromium() -> tuple[str, str] | None:
    """The Chromium and ChromeDriver to run (``$CHROMIUM``/``$CHROMEDRIVER``, else the ``PATH``), or None."""
    browser = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    driver = os.environ.get("CHROMEDRIVER") or shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


class Browser:
    """One headless Chromium session (see :func:`session`): open pages at a width and measure them."""

    def __init__(self, url: str, session: str) -> None:
        self._url, self._session = url, session

    def _call(self, method: str, path: str, body: Any = None, *, timeout: float = 90.0) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self._url}/session/{self._session}{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.loads(response.read())["value"]
        except urllib.error.HTTPError as error:   # WebDriver says why in the body
            message = json.loads(error.read() or b"{}").get("value", {}).get("message", "")
            first = message.splitlines()[0] if message else str(error)
            raise RuntimeError(f"Chromium could not {method} {path}: {first}") from None

    def open(self, page: pathlib.Path, *, width: int) -> None:
        """Load ``page`` in a viewport ``width`` CSS pixels wide."""
        if width not in range(200, 4000):
            raise ValueError(f"width must be CSS pixels between 200 and 4000, not {width!r}")
        self._call("POST", "/goog/cdp/execute", {"cmd": "Emulation.setDeviceMetricsOverride", "params": {
            "width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 768}})
        self._call("POST", "/url", {"url": page.resolve().as_uri()})

    def measure(self) -> list[dict[str, Any]]:
        """What does not fit on the open page: dicts with ``kind`` ("clipped", "small figure text", "no alt
        text"), ``what`` (the element and its first words) and ``by`` (pixels hidden) or ``px`` (text size)."""
        font_px = FIGURE_FONT_PT * FIGURE_DPI / 72
        return list(self._call("POST", "/execute/async",
                               {"script": MEASURE, "args": [font_px, MIN_TEXT_PX, TYPESET_MS, NOT_TYPESET]}))


@contextmanager
def session() -> Iterator[Browser]:
    """A ChromeDriver on a free local port with one headless Chromium; both are stopped on exit."""
    found = chromium()
    if found is None:
        raise RuntimeError("headless Chromium not found: apt-get install chromium chromium-driver "
                           "(or set $CHROMIUM and $CHROMEDRIVER)")
    browser, driver = found
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen([driver, f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with tempfile.TemporaryDirectory() as profile:
            for _ in range(100):
                try:
                    urllib.request.urlopen(f"{url}/status", timeout=1).read()
                    break
                except OSError:
                    time.sleep(0.1)
            options = {"binary": browser, "args": [*FLAGS, f"--user-data-dir={profile}", "--window-size=1280,900"]}
            body = json.dumps({"capabilities": {"alwaysMatch": {"goog:chromeOptions": options}}}).encode()
            request = urllib.request.Request(f"{url}/session", data=body, headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=60) as response:
                session_id = json.loads(response.read())["value"]["sessionId"]
            handle = Browser(url, session_id)
            try:
                yield handle
            finally:
                urllib.request.urlopen(urllib.request.Request(f"{url}/session/{session_id}", method="DELETE"),
                                       timeout=30).read()
    finally:
        process.terminate()
        process.wait(timeout=30)


def site_problems(html_dir: pathlib.Path, *, widths: Sequence[int] = WIDTHS,
                  pages: Iterable[pathlib.Path] | None = None) -> dict[str, list[str]]:
    """Every page of a built book (or ``pages``) at every width: ``{"page @ width": ["kind: what", ...]}``,
    only pages with problems."""
    problems: dict[str, list[str]] = {}
    with session() as browser:
        for page in sorted(pages if pages is not None else _content_pages(html_dir)):
            for width in widths:
                measured: list[dict[str, Any]] = []
                for _attempt in range(2):   # once more when the page had not loaded and typeset (NOT_TYPESET)
                    try:
                        browser.open(page, width=width)
                    except RuntimeError as error:
                        raise RuntimeError(f"{page.relative_to(html_dir)} at {width} px: {error}") from None
                    measured = _measure(browser, page, width)
                    if [m["kind"] for m in measured] != [NOT_TYPESET]:
                        break
                found = [f"{p['kind']}: {p['what']}" + (f" (by {p['by']} px)" if "by" in p else "")
                         + (f" ({p['px']} px text)" if "px" in p else "") for p in measured]
                if found:
                    problems[f"{page.relative_to(html_dir)} @ {width} px"] = found
    return problems


def _measure(browser: Browser, page: pathlib.Path, width: int) -> list[dict[str, Any]]:
    try:
        return browser.measure()
    except RuntimeError as error:
        raise RuntimeError(f"{page} at {width} px: {error}") from None


def _content_pages(html_dir: pathlib.Path) -> list[pathlib.Path]:
    skip = {"genindex.html", "search.html", "py-modindex.html"}
    return [p for p in html_dir.rglob("*.html")
            if p.name not in skip and "_static" not in p.parts and "_sources" not in p.parts]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m marginlib.book.browser [HTML_DIR]``: print every page's problems; exit 1 if there are any."""
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    html_dir = pathlib.Path(args[0] if args else "_build/html")
    problems = site_problems(html_dir)
    for where, found in problems.items():
        print(where)
        for p in found:
            print(f"    {p}")
    print(f"{len(problems)} page view(s) with problems" if problems else "every page fits at "
          + " and ".join(f"{w} px" for w in WIDTHS))
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
