"""Which browser, OS and device a User-Agent header names, in words a person recognises.

Parsing uses ua-parser and its bundled rules (ua-parser-builtins). The header is whatever the
client sent, so it is cut to `MAX_USER_AGENT_LENGTH` characters and stripped of control and
other unprintable characters before parsing, and every field of the result is short and
printable. `describe` never raises.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import ua_parser

MAX_USER_AGENT_LENGTH = 1024
_MAX_FIELD_LENGTH = 64
_UNKNOWN = "Unknown"


@dataclass(frozen=True)
class Device:
    browser: str  # "Chrome 126", "Mobile Safari 17", "curl 8", "Unknown"
    os: str  # "Windows 10/11", "macOS", "iOS 17", "Android 14", "Linux", "Unknown"
    device: str  # "Computer", "iPhone", "Mac", "Pixel 8", "Android phone", "Bot", "Unknown"


UNKNOWN_DEVICE = Device(browser=_UNKNOWN, os=_UNKNOWN, device=_UNKNOWN)

# Operating systems that run on computers: with no device named, the device is a computer.
_COMPUTER_OSES = frozenset(
    {
        "Windows",
        "Mac OS X",
        "Linux",
        "Ubuntu",
        "Debian",
        "Fedora",
        "Red Hat",
        "SUSE",
        "openSUSE",
        "Mint",
        "Arch Linux",
        "Gentoo",
        "Mandriva",
        "Slackware",
        "CentOS",
        "Chrome OS",
        "FreeBSD",
        "OpenBSD",
        "NetBSD",
        "Solaris",
    }
)

# Platform build numbers rather than versions a person knows ("Chrome OS 14541").
_OSES_WITHOUT_VERSION = frozenset({"Chrome OS", "Linux"})

_OS_NAMES = {"Mac OS X": "macOS", "Chrome OS": "ChromeOS"}

_DEVICE_NAMES = {
    "Spider": "Bot",
    "Generic Smartphone": "Phone",
    "Generic Feature Phone": "Phone",
    "Generic Tablet": "Tablet",
}


def describe(user_agent: str | None) -> Device:
    """Browser, OS and device named by a User-Agent header; "Unknown" for what it doesn't say."""
    if not user_agent:
        return UNKNOWN_DEVICE
    cleaned = _clean(user_agent[:MAX_USER_AGENT_LENGTH])
    if not cleaned:
        return UNKNOWN_DEVICE
    return _describe(cleaned)


@functools.lru_cache(maxsize=4096)
def _describe(user_agent: str) -> Device:
    try:
        result = ua_parser.parse(user_agent)
    except Exception:  # a display helper must not fail on a hostile header
        return UNKNOWN_DEVICE
    agent, os, device = result.user_agent, result.os, result.device
    reduced_android = (
        device is not None and device.family == "K" and os is not None and os.family == "Android"
    )
    return Device(
        browser=_browser(agent),
        os=_os(os, reduced_android=reduced_android),
        device=_device(device, os, reduced_android=reduced_android),
    )


def _browser(agent: ua_parser.UserAgent | None) -> str:
    if agent is None or agent.family == "Other":
        return _UNKNOWN
    return _field(agent.family, agent.major)


def _os(os: ua_parser.OS | None, *, reduced_android: bool) -> str:
    if os is None or os.family == "Other":
        return _UNKNOWN
    name = _OS_NAMES.get(os.family, os.family)
    major, minor = os.major, os.minor
    if os.family == "Windows" and major == "10":
        # Windows 11 browsers still send "Windows NT 10.0".
        return "Windows 10/11"
    if os.family == "Windows" and major == "8" and minor == "1":
        return "Windows 8.1"
    if os.family == "Mac OS X" and major == "10":
        # Browsers have reported "10_15_7" on every macOS since 11: 10.15 means "10.15 or later".
        return name if minor in (None, "15") else f"{name} {major}.{minor}"
    if reduced_android or os.family in _OSES_WITHOUT_VERSION:
        return name
    return _field(name, major)


def _device(
    device: ua_parser.Device | None, os: ua_parser.OS | None, *, reduced_android: bool
) -> str:
    if reduced_android and device is not None:
        # Chrome's reduced User-Agent: "Linux; Android 10; K" whatever the phone or tablet.
        return "Android tablet" if device.brand == "Generic_Android_Tablet" else "Android phone"
    if device is not None and device.family != "Other":
        return _field(_DEVICE_NAMES.get(device.family, device.family))
    if os is not None and os.family in _COMPUTER_OSES:
        return "Computer"
    return _UNKNOWN


def _field(name: str, version: str | None = None) -> str:
    """`name version`, printable and short; a version only if it is a short number or word."""
    text = _clean(name)[:_MAX_FIELD_LENGTH].strip() or _UNKNOWN
    if version and len(version) <= 4 and version.isalnum():
        text = f"{text} {version}"
    return text


def _clean(text: str) -> str:
    """Unprintable characters (controls, lone surrogates, bidi overrides...) become spaces."""
    return "".join(c if c.isprintable() else " " for c in text).strip()
