"""Headless Chromium driven over the DevTools protocol, as a person at a keyboard.

Just what the browser tests need: open a page, press keys, type, read the DOM
with a line of JavaScript, take a screenshot. Chromium is Debian's package; the
protocol client is `websockets` (a dependency of uvicorn[standard]).
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import subprocess
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

# Headless, with every background connection turned off and every host name but
# loopback unresolvable: the tests reach nothing but the server they started.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-domain-reliability",
    "--disable-breakpad",
    "--no-pings",
    "--no-proxy-server",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    "--hide-scrollbars",
)

# Keys as the protocol's Input.dispatchKeyEvent wants them.
KEYS = {
    "Tab": {"key": "Tab", "code": "Tab", "windowsVirtualKeyCode": 9},
    "Space": {"key": " ", "code": "Space", "windowsVirtualKeyCode": 32, "text": " "},
    "Enter": {"key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13, "text": "\r"},
}


class Browser:
    """One headless Chromium with one page; every host name but loopback unresolvable."""

    def __init__(self, executable: str, profile: Path, width: int = 1280, height: int = 1000):
        profile.mkdir(parents=True, exist_ok=True)
        command = [
            executable,
            *CHROMIUM_FLAGS,
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",  # any free port; Chromium writes it to the profile
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            "about:blank",
        ]
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
        )
        self.width, self.height = width, height
        self._ids = itertools.count(1)
        self._closing = ExitStack()
        try:
            port = self._port(profile / "DevToolsActivePort")
            self.socket: ClientConnection = self._closing.enter_context(
                connect(self._page_socket(port), max_size=None)
            )
            self.call("Page.enable")
            self.call("Runtime.enable")
            self.call(
                "Emulation.setDeviceMetricsOverride",
                width=width,
                height=height,
                deviceScaleFactor=1,
                mobile=False,
            )
        except BaseException:
            self.close()
            raise

    def _port(self, file: Path, within: float = 30.0) -> int:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"chromium exited with {self.process.returncode}")
            if file.is_file() and file.read_text().strip():
                return int(file.read_text().split()[0])
            time.sleep(0.05)
        raise TimeoutError("chromium did not open its DevTools port")

    @staticmethod
    def _page_socket(port: int) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as answer:  # noqa: S310
            targets = json.load(answer)
        return next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command; wait for its answer (events on the way are dropped)."""
        number = next(self._ids)
        self.socket.send(json.dumps({"id": number, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv(timeout=30))
            if message.get("id") == number:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message["result"]
                return result

    def open(self, url: str) -> None:
        """Navigate and wait until the page has loaded (and its scripts have run)."""
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + 30
        while self.js("document.readyState") != "complete" or self.js("location.href") != url:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not load")
            time.sleep(0.05)

    def js(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        result = self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def press(self, name: str) -> None:
        """Press and release a key: a name of KEYS, or a letter."""
        key = KEYS.get(name) or {
            "key": name,
            "code": f"Key{name.upper()}",
            "windowsVirtualKeyCode": ord(name.upper()),
            "text": name,
        }
        down = "keyDown" if "text" in key else "rawKeyDown"
        self.call("Input.dispatchKeyEvent", type=down, **key)
        self.call("Input.dispatchKeyEvent", type="keyUp", **key)

    def type(self, text: str) -> None:
        """Type into the focused control, as a keyboard would (input events fire)."""
        self.call("Input.insertText", text=text)

    def tab_to(self, condition: str, most: int = 400) -> None:
        """Press Tab until `condition` (JavaScript, about document.activeElement) holds:
        the control is reachable with the keyboard alone."""
        for _ in range(most):
            self.press("Tab")
            if self.js(f"(el => Boolean({condition}))(document.activeElement)"):
                return
        raise AssertionError(f"no control with {condition} within {most} Tab presses")

    def screenshot(self, path: Path, full_page: bool = False) -> bytes:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            height = int(self.js("document.documentElement.scrollHeight"))
            params["clip"] = {"x": 0, "y": 0, "width": self.width, "height": height, "scale": 1}
            params["captureBeyondViewport"] = True
        data = base64.b64decode(self.call("Page.captureScreenshot", **params)["data"])
        path.write_bytes(data)
        return data

    def close(self) -> None:
        self._closing.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
