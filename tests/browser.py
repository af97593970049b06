"""A tiny headless-Chromium driver over the DevTools protocol on a pipe (stdlib only).

Chromium started with ``--remote-debugging-pipe`` reads protocol messages from fd 3 and
writes them to fd 4, each a JSON object ended by a NUL byte.  :func:`load_page` opens one
page from a ``file://`` URL with the network emulated offline and every host resolving to
nothing, waits for the load event and for ``document.body.dataset.ready``, and returns
what a test needs: console errors and exceptions, every request that was not ``file:`` or
``data:``, the values of JavaScript expressions, and a PNG screenshot.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any


def chromium() -> str | None:
    """The Chromium binary, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class PageResult:
    """What one page load showed."""

    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    screenshot: bytes = b""
    load_s: float = 0.0


class _Pipe:
    def __init__(self, proc: subprocess.Popen[bytes], wfd: int, rfd: int) -> None:
        self.proc, self.wfd, self.rfd = proc, wfd, rfd
        self.buf = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict[str, Any] | None = None,
             session: str | None = None) -> int:
        self.next_id += 1
        msg: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.wfd, json.dumps(msg).encode() + b"\0")
        return self.next_id

    def _read_one(self, deadline: float) -> dict[str, Any]:
        import select

        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("chromium did not answer in time")
            ready, _, _ = select.select([self.rfd], [], [], left)
            if ready:
                chunk = os.read(self.rfd, 1 << 20)
                if not chunk:
                    raise RuntimeError("chromium closed the pipe")
                self.buf += chunk
        raw, self.buf = self.buf.split(b"\0", 1)
        return json.loads(raw)  # type: ignore[no-any-return]

    def call(self, method: str, params: dict[str, Any] | None = None,
             session: str | None = None, timeout: float = 30.0) -> dict[str, Any]:
        want = self.send(method, params, session)
        deadline = time.monotonic() + timeout
        while True:
            msg = self._read_one(deadline)
            if msg.get("id") == want:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})  # type: ignore[no-any-return]
            self.events.append(msg)

    def wait_event(self, method: str, timeout: float) -> dict[str, Any]:
        for i, ev in enumerate(self.events):
            if ev.get("method") == method:
                return self.events.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            msg = self._read_one(deadline)
            if msg.get("method") == method:
                return msg
            self.events.append(msg)


def load_page(url: str, expressions: dict[str, str], *, width: int = 1400, height: int = 1800,
              timeout: float = 60.0) -> PageResult:
    """Load ``url`` offline in headless Chromium and report on it (see the module docstring)."""
    exe = chromium()
    if exe is None:
        raise RuntimeError("chromium is not installed")
    profile = tempfile.mkdtemp(prefix="tfa-chromium-")
    to_chrome_r, to_chrome_w = os.pipe()
    from_chrome_r, from_chrome_w = os.pipe()
    args = [exe, "--headless", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu",
            "--no-first-run", "--no-default-browser-check", "--disable-extensions",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={profile}",
            f"--window-size={width},{height}", "about:blank"]

    def fds() -> None:
        # the pipe ends may themselves be fds 3 and 4 (non-inheritable): copy them out of
        # the way first, then onto 3 and 4 (dup2 makes the copies inheritable)
        r, w = os.dup(to_chrome_r), os.dup(from_chrome_w)
        os.dup2(r, 3)
        os.dup2(w, 4)

    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, preexec_fn=fds, close_fds=False)
    os.close(to_chrome_r)
    os.close(from_chrome_w)
    pipe = _Pipe(proc, to_chrome_w, from_chrome_r)
    out = PageResult()
    try:
        target = pipe.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        sid = pipe.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            pipe.call(f"{domain}.enable", session=sid)
        pipe.call("Network.emulateNetworkConditions", {
            "offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
            session=sid)
        pipe.call("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            session=sid)
        start = time.monotonic()
        pipe.call("Page.navigate", {"url": url}, session=sid)
        pipe.wait_event("Page.loadEventFired", timeout)
        deadline = time.monotonic() + timeout
        while True:
            ready = pipe.call("Runtime.evaluate", {
                "expression": "document.body && document.body.dataset.ready || ''",
                "returnByValue": True}, session=sid)["result"].get("value")
            if ready or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        out.load_s = time.monotonic() - start
        for name, expr in expressions.items():
            res = pipe.call("Runtime.evaluate", {"expression": expr, "returnByValue": True,
                                                 "awaitPromise": True}, session=sid)
            if "exceptionDetails" in res:
                out.errors.append(f"evaluating {name}: {res['exceptionDetails'].get('text')}")
            out.values[name] = res["result"].get("value")
        shot = pipe.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport":
                                                    False}, session=sid)
        out.screenshot = base64.b64decode(shot["data"])
        for ev in pipe.events:
            method, params = ev.get("method"), ev.get("params", {})
            if method == "Runtime.exceptionThrown":
                d = params["exceptionDetails"]
                out.errors.append(str(d.get("exception", {}).get("description") or d["text"]))
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error",
                                                                                 "assert"):
                out.errors.append(" ".join(str(a.get("value", a.get("description")))
                                           for a in params.get("args", [])))
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                out.errors.append(params["entry"]["text"])
            elif method == "Network.requestWillBeSent":
                req = params["request"]["url"]
                if not req.startswith(("file:", "data:", "about:")):
                    out.requests.append(req)
        with_ready = ready
        if not with_ready:
            out.errors.append("the page never set document.body.dataset.ready")
    finally:
        try:
            pipe.send("Browser.close")
            proc.wait(timeout=10)
        except Exception:  # noqa: BLE001 - the browser must go whatever happened
            proc.kill()
            proc.wait()
        os.close(to_chrome_w)
        os.close(from_chrome_r)
        shutil.rmtree(profile, ignore_errors=True)
    return out
