"""Writing files atomically: to a temporary name beside the target, then renamed over it, so a reader
never sees half a file; the file gets the mode any new file gets under the umask (a temporary file
alone would be private)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path


def umask_mode(mode: int = 0o666) -> int:
    """``mode`` as the process's umask leaves it."""
    umask = os.umask(0)
    os.umask(umask)
    return mode & ~umask


def write_atomic(target: Path, chunks: Iterable[str]) -> Path:
    """Write the text ``chunks`` to ``target`` (UTF-8, newlines as given), whole or not at all."""
    return _write(target, chunks, "w")


def write_bytes_atomic(target: Path, data: bytes) -> Path:
    """Write ``data`` to ``target``, whole or not at all."""
    return _write(target, (data,), "wb")


def write_chunks_atomic(target: Path, chunks: Iterable[bytes]) -> Path:
    """Write the byte ``chunks`` to ``target``, whole or not at all."""
    return _write(target, chunks, "wb")


def _write(target: Path, chunks: Iterable, mode: str) -> Path:
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        text = {"encoding": "utf-8", "newline": "\n"} if mode == "w" else {}
        with os.fdopen(fd, mode, **text) as fh:
            for chunk in chunks:
                fh.write(chunk)
        os.chmod(tmp, umask_mode())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


__all__ = ["umask_mode", "write_atomic", "write_bytes_atomic", "write_chunks_atomic"]
