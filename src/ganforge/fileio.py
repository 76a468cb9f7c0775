"""Atomic file writes: a crash never leaves a half-written file under the final name.

A write that fails for a reason of the storage (disk full, read-only file system, no permission) raises
:class:`WriteError`: one line naming the file and the reason, with the earlier version of the file untouched.
A process killed mid-write leaves at most a temporary ``.NAME.*.tmp`` file beside the real one;
:func:`remove_stale_temps` clears those when a run is resumed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from .errors import GanforgeError

# errno values that mean "the storage refused the write", as opposed to e.g. a network error raised by the
# code that produces the bytes.
_STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO, errno.EFBIG,
                   errno.ENOTDIR, errno.EISDIR, errno.ENAMETOOLONG}


class WriteError(GanforgeError, OSError):
    """A file could not be written. Also an ``OSError`` (with the original ``errno``), so code that
    tolerates a failed optional write (a cache) keeps doing so."""


def write_error(path: str | os.PathLike[str], error: BaseException) -> WriteError:
    """The one-line error for a failed write of ``path``."""
    reason = error.strerror if isinstance(error, OSError) and error.strerror else " ".join(str(error).split())
    err = WriteError(f"could not write '{path}': {reason}; the file's earlier version, if any, is unchanged")
    err.errno = getattr(error, "errno", None)
    return err


def _is_storage_error(error: BaseException) -> bool:
    return isinstance(error, OSError) and not isinstance(error, WriteError) and error.errno in _STORAGE_ERRNOS


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success fsync it and rename it over ``path``.

    The temporary file lives in the same folder so that ``os.replace`` is an atomic rename.
    On any exception the temporary file is removed and ``path`` is left as it was; a storage error
    (disk full, read-only, no permission) becomes a :class:`WriteError` naming ``path``.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise write_error(path, e) from e
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp makes the file private (0600), and some writers (safetensors) make a new one the same way;
        # give it the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        if _is_storage_error(e):
            raise write_error(path, e) from e
        raise
    _fsync_dir(path.parent)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


class _Appender:
    """A text file opened for appending whose storage errors are :class:`WriteError` naming it."""

    def __init__(self, path: Path, file: TextIO) -> None:
        self.path, self._file = path, file

    def write(self, text: str) -> int:
        try:
            return self._file.write(text)
        except OSError as e:
            raise write_error(self.path, e) from e

    def flush(self) -> None:
        try:
            self._file.flush()
        except OSError as e:
            raise write_error(self.path, e) from e


@contextlib.contextmanager
def append_text(path: str | os.PathLike[str]) -> Iterator[_Appender]:
    """Open ``path`` for appending lines (a log). A crash can cut only the last line; readers skip it."""
    path = Path(path)
    try:
        file = open(path, "a", encoding="utf-8")
    except OSError as e:
        raise write_error(path, e) from e
    try:
        yield _Appender(path, file)
    finally:
        with contextlib.suppress(OSError):  # a failed flush on close was reported by the write that failed
            file.close()


def remove_stale_temps(*folders: str | os.PathLike[str]) -> list[Path]:
    """Delete the temporary files that processes killed mid-write left in ``folders`` (not below them)."""
    removed = []
    for folder in folders:
        for tmp in Path(folder).glob(".*.tmp"):
            if tmp.is_file() and not tmp.is_symlink():
                with contextlib.suppress(OSError):
                    tmp.unlink()
                    removed.append(tmp)
    return removed


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable; not every platform allows opening a directory.
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
