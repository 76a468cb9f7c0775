"""Download dataset files from public mirrors, resumably, with an md5 check.

Mirrors are tried in this order:

1. ``$GANFORGE_MIRRORS``: comma-separated base URLs of servers laid out like a ganforge data folder,
   so the URL of a file is ``<base>/<dataset>/<file>``, e.g. ``http://host/data/mnist/train-images-idx3-ubyte.gz``.
   One such mirror serves every dataset; ``python -m http.server`` run inside a data folder is one.
2. The public mirrors in ``PUBLIC_MIRRORS``; their URL of a file is ``<base><file>`` (no dataset sub-path).

Each file is fetched into ``<file>.part`` beside its final name. A ``.part`` left by a dropped connection
or an earlier killed run is resumed with an HTTP Range request; a server that answers 200 instead of 206
(it ignores Range) is simply read again from the start. The md5 is checked before the ``.part`` is renamed
onto the final name, so a final name only ever holds a complete, verified file. A wrong md5 deletes the
``.part`` and moves on to the next mirror. Every network operation has a timeout (``TIMEOUT`` seconds for
connecting and for each read), so a dead server cannot hang a run.

Setting ``$GANFORGE_OFFLINE`` to a non-empty value other than ``0`` turns downloads off (useful for CI).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from tqdm import tqdm

from ganforge.errors import GanforgeError

TIMEOUT = 15.0  # seconds, for connecting and for each read
_CHUNK = 1 << 16
_MAX_RESUMES = 5  # per mirror; each one must have made progress
_PROGRESS_MIN_BYTES = 1 << 20  # no progress bar for small files
_USER_AGENT = "ganforge (python urllib)"

_IDX_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
              "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")

# Base URLs; the file name is appended as is.
PUBLIC_MIRRORS: dict[str, list[str]] = {
    "mnist": ["https://ossci-datasets.s3.amazonaws.com/mnist/", "https://yann.lecun.com/exdb/mnist/"],
    "fashion-mnist": ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
}

# The publishers' md5s (see shared/data/MANIFEST.md).
MD5S: dict[str, dict[str, str]] = {
    "mnist": dict(zip(_IDX_FILES, (
        "f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
        "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c"))),
    "fashion-mnist": dict(zip(_IDX_FILES, (
        "8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
        "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310"))),
}

Log = Callable[[str], None]


class DownloadError(GanforgeError):
    """Every mirror failed; ``failures`` holds (url, short reason) for each one tried."""

    def __init__(self, message: str, failures: list[tuple[str, str]]) -> None:
        super().__init__(message)
        self.failures = failures


class _MirrorFailed(Exception):
    """One mirror could not deliver the file; the message is a short reason."""


def offline() -> bool:
    return os.environ.get("GANFORGE_OFFLINE", "").strip() not in ("", "0")


def default_mirrors(dataset: str) -> list[str]:
    """Base URLs to try for ``dataset``: those from ``$GANFORGE_MIRRORS`` first, then the public ones."""
    extra = [u.strip().rstrip("/") for u in os.environ.get("GANFORGE_MIRRORS", "").split(",") if u.strip()]
    return [f"{base}/{dataset}/" for base in extra] + list(PUBLIC_MIRRORS.get(dataset, []))


def fetch_dataset_files(dataset: str, filenames: Iterable[str], dest_dir: str | os.PathLike[str], *,
                        mirrors: Sequence[str] | None = None, md5s: Mapping[str, str] | None = None,
                        timeout: float = TIMEOUT, log: Log = print) -> list[Path]:
    """Make sure each of ``filenames`` is in ``dest_dir``, downloading the missing ones; return their paths.

    ``mirrors`` (base URLs, the file name is appended) and ``md5s`` default to ``default_mirrors(dataset)``
    and ``MD5S[dataset]``; tests pass their own.
    """
    if offline():
        raise GanforgeError(f"cannot download {dataset}: downloads are off because GANFORGE_OFFLINE is set")
    mirrors = default_mirrors(dataset) if mirrors is None else list(mirrors)
    md5s = MD5S.get(dataset, {}) if md5s is None else md5s
    if not mirrors:
        raise GanforgeError(f"cannot download {dataset}: no mirror is known for it (set GANFORGE_MIRRORS)")
    paths = []
    for name in filenames:
        if name not in md5s:
            raise GanforgeError(f"cannot download {dataset}/{name}: no md5 is known for it")
        dest = Path(dest_dir) / name
        if not dest.exists():
            download_file([m + name if m.endswith("/") else f"{m}/{name}" for m in mirrors], dest, md5s[name],
                          timeout=timeout, log=log)
        paths.append(dest)
    return paths


def download_file(urls: Sequence[str], dest: str | os.PathLike[str], md5: str, *,
                  timeout: float = TIMEOUT, log: Log = print) -> Path:
    """Fetch ``dest`` from the first of ``urls`` that delivers bytes with the given md5.

    Raises DownloadError (a GanforgeError) listing every URL tried, on one line, when none does;
    ``dest`` is then left absent.
    """
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    announced: list[bool] = []

    def announce(url: str, total: int | None) -> None:
        # Only once a server answers, so failing mirrors print nothing (the caller reports the failure).
        if not announced:
            announced.append(True)
            size = f" ({total / 2**20:.1f} MiB)" if total else ""
            log(f"downloading {dest.name}{size} from {url}")

    failures = []
    for url in urls:
        try:
            _download_from(url, part, md5.lower(), timeout, announce)
        except _MirrorFailed as e:
            failures.append((url, str(e)))
            continue
        with open(part, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(part, dest)  # atomic: dest appears complete or not at all
        return dest
    tried = "; ".join(f"{url} ({reason})" for url, reason in failures)
    raise DownloadError(f"could not download {dest.name}; tried: {tried}", failures)


def _download_from(url: str, part: Path, md5: str, timeout: float,
                   announce: Callable[[str, int | None], None]) -> None:
    """Fill ``part`` with the file at ``url`` and check its md5, resuming after dropped connections."""
    inherited = part.exists() and part.stat().st_size > 0  # left by another mirror or an earlier run
    resumes = 0
    while True:
        start = part.stat().st_size if part.exists() else 0
        received = [0]  # filled in by _fetch_once even when it fails half-way
        error: BaseException | None = None
        try:
            complete = _fetch_once(url, part, start, timeout, announce, received)
        except urllib.error.HTTPError as e:
            if not (e.code == 416 and start > 0):  # 416: nothing after our offset; the .part may be whole
                raise _MirrorFailed(f"HTTP {e.code} {e.reason}") from e
            complete = True
        except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as e:
            complete, error = False, e
        if not complete:
            # Retry (resuming) only while attempts make progress, so a dead mirror is left quickly.
            if received[0] > 0 and resumes < _MAX_RESUMES:
                resumes += 1
                continue
            raise _MirrorFailed(_reason(error) if error else "connection closed early")
        if _md5(part) == md5:
            return
        part.unlink()
        if inherited:  # the old .part may be what was wrong: give this mirror one clean try
            inherited = False
            continue
        raise _MirrorFailed("md5 mismatch")


def _fetch_once(url: str, part: Path, start: int, timeout: float,
                announce: Callable[[str, int | None], None], received: list[int]) -> bool:
    """One HTTP request; append to ``part`` from byte ``start``. True if the response was read to its end."""
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    if start:
        request.add_header("Range", f"bytes={start}-")
    with _urlopen(request, timeout) as response:
        length = response.headers.get("Content-Length")
        length = int(length) if length and length.isdigit() else None
        if start and response.status == 206:
            match = re.match(r"bytes (\d+)-\d+/(\d+|\*)", response.headers.get("Content-Range", ""))
            if not match or int(match.group(1)) != start:
                raise _MirrorFailed(f"unusable Content-Range {response.headers.get('Content-Range')!r}")
            mode, offset = "ab", start
        else:  # a 200 to a Range request: the server ignores Range, so start over
            mode, offset = "wb", 0
        total = offset + length if length is not None else None
        announce(url, total)
        bar = tqdm(total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024, leave=False,
                   file=sys.stderr, desc=part.name.removesuffix(".part"),
                   disable=None if (total or 0) >= _PROGRESS_MIN_BYTES else True)  # None: off unless a tty
        part.parent.mkdir(parents=True, exist_ok=True)  # only now: a failed download leaves no empty folders
        with bar, open(part, mode) as f:
            # http.client returns b"" rather than raising when a connection drops before Content-Length.
            while chunk := response.read(_CHUNK):
                f.write(chunk)
                received[0] += len(chunk)
                bar.update(len(chunk))
    return total is None or part.stat().st_size >= total


def _urlopen(request: urllib.request.Request, timeout: float) -> http.client.HTTPResponse:
    # A seam for tests, which make sure nothing but 127.0.0.1 is ever contacted.
    return urllib.request.urlopen(request, timeout=timeout)


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _reason(error: BaseException) -> str:
    if isinstance(error, urllib.error.URLError) and not isinstance(error, urllib.error.HTTPError):
        error = error.reason if isinstance(error.reason, BaseException) else error
    text = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return " ".join(str(text).split())  # keep the final error message on one line

