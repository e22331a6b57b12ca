"""The screenshot the help page asks for (settings__security-mfa.png), taken for real: the demo
story in a throwaway store, served by the ledger's own web app, signed in with one of the demo
user's sessions, rendered by headless Chromium."""

from __future__ import annotations

import socket
import tempfile
import threading
import time
from pathlib import Path

import uvicorn

from commands.demo import build_demo
from ledger.clock import SystemClock
from ledger.private_files import open_private
from ledger.store import LedgerStore
from ledger.store_location import StoreLocation
from projections.queries import account_sessions
from web.app import create_app
from web.ledger_access import SESSION_COOKIE

CHROMIUM = "/usr/bin/chromium"
WIDTH, HEIGHT = 1280, 900


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class BackgroundServer:
    """uvicorn in a thread, for as long as the `with` block lasts."""

    def __init__(self, location: StoreLocation) -> None:
        self.port = free_port()
        config = uvicorn.Config(
            create_app(location),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            proxy_headers=False,  # as `serve`: the app decides whose X-Forwarded-For counts
            timeout_graceful_shutdown=1,  # a browser's idle keep-alive connections hold no work
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> BackgroundServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the web server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def take_screenshot(out: Path) -> Path:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as folder:
        location = StoreLocation.parse(f"sqlite:///{Path(folder) / 'demo.sqlite3'}")
        store = LedgerStore(location)
        story = build_demo(store)
        active = {
            s["session_id"]
            for s in account_sessions(store, story.email, SystemClock().now()).sessions
        }
        token = [s.token for s in story.sessions.values() if s.session_id in active][-1]
        store.close()
        with BackgroundServer(location) as server, sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
            )
            page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
            page.context.add_cookies(
                [{"name": SESSION_COOKIE, "value": token, "url": server.url, "httpOnly": True}]
            )
            page.goto(f"{server.url}/security")
            bottom = page.locator("#sessions").bounding_box()
            assert bottom is not None
            height = bottom["y"] + bottom["height"] + 24
            png = page.screenshot(
                full_page=True, clip={"x": 0, "y": 0, "width": WIDTH, "height": height}
            )
            browser.close()
    with open_private(out, overwrite=True) as file:
        file.write(png)
    return out
