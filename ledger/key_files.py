"""Key files for the embedded store: 32 random bytes, base64, created once with mode 0600."""

from __future__ import annotations

import base64
import secrets
import stat
from pathlib import Path

from ledger.private_files import open_private


class KeyFileError(Exception):
    pass


def read_or_create_key_file(
    path: Path, *, in_use: str | None = None, formerly: Path | None = None
) -> str:
    """The key in `path`; a new one if there is none. Refuses a file others can read.

    `in_use` says what the store already holds under this key, if anything: then a missing
    file is refused, because a new key would silently lock that data away for good. `formerly`
    is where such a key used to be kept, also looked for in vain.
    """
    if not path.exists() and in_use is not None:
        also = f" (and so is {formerly}, where it used to be kept)" if formerly else ""
        raise KeyFileError(
            f"{path} is missing{also}, but this store already holds {in_use} under it; "
            "restore the file (a new key would never open them)"
        )
    if path.exists():
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise KeyFileError(f"{path} is readable by others (mode {mode:o}); chmod 600 it")
        return path.read_text()
    path.parent.mkdir(parents=True, exist_ok=True)
    encoded = base64.b64encode(secrets.token_bytes(32)).decode()
    with open_private(path) as f:
        f.write(encoded.encode() + b"\n")
    return encoded
