"""Files for their owner's eyes only: whatever the ledger writes is created 0600.

Keys, anchors, the SQLite store (SQLite gives its -wal and -shm files the store's own mode),
exports, manifests and screenshots hold secrets or personal data. The mode is set on the open
file itself, so it never depends on the umask and never leaves a moment when others could
open the file.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import BinaryIO

OWNER_ONLY = 0o600


def open_private(path: Path, *, overwrite: bool = False) -> BinaryIO:
    """A new file, open for writing, readable by its owner only.

    Never over an existing file or symlink, unless `overwrite`: then a regular file there is
    emptied and made private too (a symlink is still refused).
    """
    replace = os.O_TRUNC | os.O_NOFOLLOW if overwrite else os.O_EXCL
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | replace, OWNER_ONLY)
    try:
        os.fchmod(fd, OWNER_ONLY)
    except OSError:
        os.close(fd)
        raise
    return os.fdopen(fd, "wb")


def create_private_if_missing(path: Path) -> None:
    """An empty private file at `path` unless there is a file already (which is left as is)."""
    with contextlib.suppress(FileExistsError):
        open_private(path).close()
