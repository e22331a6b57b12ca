"""Naming the browser, OS and device behind a User-Agent header."""

from __future__ import annotations

import time

import pytest

from ledger.user_agents import MAX_USER_AGENT_LENGTH, Device, describe

CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0"
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
SAFARI_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Safari/605.1.15"
)
EDGE_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.68"
)
CHROME_ANDROID_REDUCED = (
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36"
)
CHROME_PIXEL = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.6478.71 Mobile Safari/537.36"
)
CHROME_OS = (
    "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


@pytest.mark.parametrize(
    ("user_agent", "expected"),
    [
        pytest.param(
            CHROME_WINDOWS, Device("Chrome 126", "Windows 10/11", "Computer"), id="chrome-windows"
        ),
        pytest.param(FIREFOX_LINUX, Device("Firefox 127", "Linux", "Computer"), id="firefox-linux"),
        pytest.param(
            SAFARI_IPHONE, Device("Mobile Safari 17", "iOS 17", "iPhone"), id="safari-iphone"
        ),
        pytest.param(SAFARI_MAC, Device("Safari 17", "macOS", "Mac"), id="safari-mac"),
        pytest.param(EDGE_WINDOWS, Device("Edge 126", "Windows 10/11", "Computer"), id="edge"),
        pytest.param(
            CHROME_ANDROID_REDUCED,
            Device("Chrome Mobile 126", "Android", "Android phone"),
            id="chrome-android-reduced",
        ),
        pytest.param(
            CHROME_PIXEL, Device("Chrome Mobile 126", "Android 14", "Pixel 8"), id="chrome-pixel"
        ),
        pytest.param(CHROME_OS, Device("Chrome 126", "ChromeOS", "Computer"), id="chromeos"),
        pytest.param(GOOGLEBOT, Device("Googlebot 2", "Unknown", "Bot"), id="googlebot"),
        pytest.param("curl/8.8.0", Device("curl 8", "Unknown", "Unknown"), id="curl"),
        pytest.param(
            "python-requests/2.32.3",
            Device("Python Requests 2", "Unknown", "Unknown"),
            id="python-requests",
        ),
        pytest.param(
            "flero-ledger/0.1.0", Device("Unknown", "Unknown", "Unknown"), id="unknown-client"
        ),
    ],
)
def test_real_user_agents_are_named(user_agent: str, expected: Device) -> None:
    assert describe(user_agent) == expected


@pytest.mark.parametrize("user_agent", [None, "", "   ", "\x00\x01\x1b"])
def test_no_user_agent_is_unknown_everywhere(user_agent: str | None) -> None:
    assert describe(user_agent) == Device("Unknown", "Unknown", "Unknown")


def test_a_huge_garbage_header_with_control_characters_is_unknown_and_quick() -> None:
    garbage = ("\x00\x07\x1b[31m\r\n\ud800\udfff\u202e(;/" * 10_000)[:100_000]
    assert len(garbage) == 100_000
    started = time.perf_counter()
    assert describe(garbage) == Device("Unknown", "Unknown", "Unknown")
    assert time.perf_counter() - started < 2


def test_only_the_start_of_a_long_header_is_parsed() -> None:
    padded = CHROME_WINDOWS + " " + "x" * 100_000
    assert describe(padded) == describe(CHROME_WINDOWS)
    hidden = "x" * MAX_USER_AGENT_LENGTH + CHROME_WINDOWS
    assert describe(hidden) == Device("Unknown", "Unknown", "Unknown")


def test_control_characters_inside_a_real_header_are_ignored() -> None:
    dirty = CHROME_WINDOWS.replace(" (", "\x00(").replace("Win64", "Win64\ud800")
    result = describe(dirty)
    assert result.browser == "Chrome 126"
    assert all(part.isprintable() for part in (result.browser, result.os, result.device))


def test_results_are_cached() -> None:
    assert describe(FIREFOX_LINUX) is describe(FIREFOX_LINUX)
