"""One way to replace a small file so that a reader (or the next start after a crash or a power cut) sees the
old content or the new one, never half a file: the text goes to a temporary file in the same folder, is
flushed to the disk, and is renamed over the target (a rename within one file system is atomic, POSIX
rename(2))."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` with `text` (UTF-8). Raises `OSError` (disk full, read-only or missing folder); the old
    file is then left as it was and no temporary file remains."""
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
