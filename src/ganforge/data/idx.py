"""Read and write IDX files (the MNIST format), plain or gzip-compressed.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of dimensions), one
big-endian uint32 per dimension, then the data. Only unsigned bytes (type 0x08) are used here:
magic 2051 for images (N x H x W) and 2049 for labels (N).
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from ganforge.errors import GanforgeError
from ganforge.fileio import atomic_write_bytes

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
_UBYTE = 0x08
_GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path: str | os.PathLike[str], magic: int) -> np.ndarray:
    """Return the uint8 array stored in ``path``; any defect is a GanforgeError that names the file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise GanforgeError(f"cannot read {path}: {e.strerror or e}") from e
    if raw[:2] == _GZIP_MAGIC:  # by content, not by name: a renamed or gunzipped file still reads
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise GanforgeError(f"cannot read {path}: damaged gzip data ({e})") from e

    kind = "image" if magic == IMAGES_MAGIC else "label"
    if len(raw) < 4:
        raise GanforgeError(f"{path} is not an IDX {kind} file: only {len(raw)} bytes")
    (found,) = struct.unpack(">I", raw[:4])
    if found != magic:
        raise GanforgeError(f"{path} is not an IDX {kind} file: magic number {found}, expected {magic}")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise GanforgeError(f"{path} is truncated: {len(raw)} bytes, shorter than its {header}-byte header")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    expected = int(np.prod(dims, dtype=np.int64))
    if len(raw) - header != expected:
        shape = " x ".join(map(str, dims))
        problem = "truncated" if len(raw) - header < expected else "too long"
        raise GanforgeError(f"{path} is {problem}: a {shape} {kind} file needs {expected} data bytes, "
                            f"found {len(raw) - header}")
    # bytearray gives a writable buffer, so torch.from_numpy can share it without a warning or a copy.
    return np.frombuffer(bytearray(raw), dtype=np.uint8, offset=header).reshape(dims)


def encode_idx(array: np.ndarray) -> bytes:
    """The IDX bytes (uncompressed) for a uint8 array of 1 to 3 dimensions."""
    array = np.ascontiguousarray(array)
    if array.dtype != np.uint8 or not 1 <= array.ndim <= 3:
        raise ValueError(f"IDX needs a uint8 array of 1-3 dims, got {array.dtype} with {array.ndim} dims")
    header = bytes([0, 0, _UBYTE, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def write_idx(path: str | os.PathLike[str], array: np.ndarray) -> None:
    """Write ``array`` as IDX; gzip-compressed (fixed mtime, so reproducible) when ``path`` ends in .gz."""
    data = encode_idx(array)
    if str(path).endswith(".gz"):
        data = gzip.compress(data, compresslevel=9, mtime=0)
    atomic_write_bytes(path, data)
