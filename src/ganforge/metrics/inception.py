"""Inception-v3 weights (find, check, download), torch-fidelity's feature extractor, and the "inception" and
"inception-logits" feature kinds (one network pass; the second keeps the 1008-class logits too).

Lookup order: ``--inception-weights FILE``, env ``GANFORGE_INCEPTION_WEIGHTS``, torch-hub's cache
(``$TORCH_HOME/hub/checkpoints/<file>``), then torch-fidelity's release URL with a short timeout.
"""

from __future__ import annotations

import hashlib
import os
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from ganforge.errors import GanforgeError
from ganforge.fileio import atomic_path
from ganforge.metrics.realdata import describe_shape
from ganforge.metrics.registry import ExtractorInfo, FeatureContext, View, register_features

WEIGHTS_FILENAME = "weights-inception-2015-12-05-6726825d.pth"
# Same URL torch-fidelity 0.4.0 uses (feature_extractor_inceptionv3.URL_INCEPTION_V3).
WEIGHTS_URL = f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{WEIGHTS_FILENAME}"
WEIGHTS_ENV = "GANFORGE_INCEPTION_WEIGHTS"
DOWNLOAD_TIMEOUT_S = 20.0
EXTRACTOR_NAME = "inception-v3-tf"  # part of the stats-cache key

_sha_cache: dict[tuple[str, int, int], str] = {}


@dataclass(frozen=True)
class InceptionWeights:
    path: Path
    sha256: str
    has_logits: bool  # False for FID-only files whose 1008-class fc layer is NaN
    source: str

    def describe(self) -> dict[str, object]:
        return {"path": str(self.path), "sha256": self.sha256, "has_logits": self.has_logits}


def hub_weights_path() -> Path:
    """Where torch-hub (and so torch-fidelity) looks for a cached copy of the weights."""
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILENAME


def missing_weights_message(reason: str = "") -> str:
    tail = f" ({reason})" if reason else ""
    return (
        f"Inception weights not found: pass --inception-weights FILE, set {WEIGHTS_ENV}=FILE, or put "
        f"{WEIGHTS_FILENAME} into {hub_weights_path().parent}{tail}"
    )


def find_inception_weights(explicit: str | os.PathLike[str] | None = None) -> tuple[Path, str] | None:
    """The first weights file that exists (path, where it came from), without any download."""
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise GanforgeError(f"--inception-weights {explicit}: no such file")
        return path, "--inception-weights"
    env = os.environ.get(WEIGHTS_ENV)
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise GanforgeError(f"{WEIGHTS_ENV}={env}: no such file; point it at {WEIGHTS_FILENAME}")
        return path, WEIGHTS_ENV
    hub = hub_weights_path()
    if hub.is_file():
        return hub, "torch-hub cache"
    return None


def resolve_inception_weights(
    explicit: str | os.PathLike[str] | None = None,
    *,
    download: bool = True,
    log: Callable[[str], None] = print,
) -> InceptionWeights:
    """Find (or, if allowed, download) the weights and check them; GanforgeError in one line otherwise."""
    found = find_inception_weights(explicit)
    if found is None:
        if not download:
            raise GanforgeError(missing_weights_message())
        from ganforge.data.download import offline

        if offline():
            raise GanforgeError(missing_weights_message("not downloaded: GANFORGE_OFFLINE is set"))
        found = (_download(hub_weights_path(), log), "download")
    return inspect_weights(*found)


def inspect_weights(path: Path, source: str = "file") -> InceptionWeights:
    """Check that ``path`` is an Inception state_dict and whether its logits layer is usable."""
    try:
        # weights_only: a .pth is a pickle; refuse anything that is not plain tensors.
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # any load failure is the same user-facing problem
        raise GanforgeError(f"inception weights {path}: unreadable state_dict ({type(e).__name__})") from e
    needed = ("Conv2d_1a_3x3.conv.weight", "Mixed_7c.branch_pool.conv.weight", "fc.weight", "fc.bias")
    if not isinstance(state, dict) or any(k not in state for k in needed):
        raise GanforgeError(f"inception weights {path}: not a torch-fidelity Inception-v3 state_dict")
    has_logits = bool(torch.isfinite(state["fc.weight"]).all() and torch.isfinite(state["fc.bias"]).all())
    return InceptionWeights(path=path, sha256=file_sha256(path), has_logits=has_logits, source=source)


def file_sha256(path: Path) -> str:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _sha_cache:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _sha_cache[key] = h.hexdigest()
    return _sha_cache[key]


def _download(dest: Path, log: Callable[[str], None]) -> Path:
    # Our own urlopen with a timeout: torch.hub's download has none and can hang without a network.
    log(f"Downloading Inception weights from {WEIGHTS_URL} to {dest}")
    try:
        with (
            urllib.request.urlopen(WEIGHTS_URL, timeout=DOWNLOAD_TIMEOUT_S) as response,
            atomic_path(dest) as tmp,
        ):
            total = int(response.headers.get("Content-Length") or 0) or None
            with open(tmp, "wb") as f, tqdm(total=total, unit="B", unit_scale=True, desc="inception") as bar:
                for chunk in iter(lambda: response.read(1 << 20), b""):
                    f.write(chunk)
                    bar.update(len(chunk))
    except OSError as e:  # URLError, timeouts and HTTP errors are all OSError subclasses
        raise GanforgeError(missing_weights_message(f"download from {WEIGHTS_URL} failed: {e}")) from e
    return dest


class InceptionExtractor:
    """torch-fidelity's Inception-v3 (TF-FID port): uint8 N x C x H x W in, 2048-d pool features out.

    torch-fidelity does the standard TF1-style bilinear resize to 299 itself; grey images are replicated
    to 3 channels here.
    """

    name = EXTRACTOR_NAME

    def __init__(self, weights: InceptionWeights, device: torch.device | str, *, logits: bool = False):
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

        if logits and not weights.has_logits:
            raise GanforgeError(inception_score_unavailable_message(weights))
        self.weights = weights
        self.device = torch.device(device)
        self.outputs = ["2048", "logits_unbiased"] if logits else ["2048"]
        self.net = FeatureExtractorInceptionV3(
            "inception-v3-compat", self.outputs, feature_extractor_weights_path=str(weights.path)
        ).to(self.device)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        x = to_rgb(images).to(self.device)
        out = self.net(x)
        return {k: v.float().cpu() for k, v in zip(self.outputs, out)}


def to_rgb(images: torch.Tensor) -> torch.Tensor:
    if images.dtype != torch.uint8 or images.dim() != 4:
        raise GanforgeError(f"images: got {images.dtype} {tuple(images.shape)}, expected uint8 N x C x H x W")
    c = images.shape[1]
    if c == 1:
        return images.expand(-1, 3, -1, -1)
    if c == 3:
        return images
    raise GanforgeError(f"images: got {c} channels, Inception metrics accept 1 or 3")


def inception_score_unavailable_message(weights: InceptionWeights) -> str:
    return (
        f"Inception Score needs the full Inception weights with the 1008-class logits; {weights.path} has "
        f"no usable logits layer (an FID/KID/PR-only file): pass --inception-weights with torch-fidelity's "
        f"{WEIGHTS_FILENAME} from {WEIGHTS_URL}, or leave 'is' out of --metrics"
    )


# ---- the feature kinds ------------------------------------------------------------------------------------

INPUT_SIZE = 299  # torch-fidelity's FeatureExtractorInceptionV3.INPUT_IMAGE_SIZE
TF_RESIZE = "torch-fidelity's TF1-style bilinear resize (align_corners=False, no antialiasing) inside the extractor"


def identify(extractor: InceptionExtractor, ctx: FeatureContext) -> ExtractorInfo:
    weights: InceptionWeights = ctx.weights
    logits = " and 1008-class logits" if "logits_unbiased" in ctx.outputs else ""
    return ExtractorInfo(
        title=f"Inception-v3, TF 2015-12-05 FID graph (torch-fidelity's port): 2048-d pool features{logits}",
        short="Inception-v3 TF weights",
        cache_name=extractor.name,
        weights=str(weights.path),
        weights_sha256=weights.sha256,
        provenance={"inception_weights": weights.describe()},
    )


def view(shape: tuple[int, int, int], ctx: FeatureContext) -> View:
    short = f"{describe_shape(shape)} -> {INPUT_SIZE}x{INPUT_SIZE} RGB"
    grey = "grey copied to 3 channels, then " if shape[0] == 1 else ""
    return View(short, f"{short}: {grey}{TF_RESIZE}")


def any_weights(weights: InceptionWeights) -> str | None:
    return None


def weights_with_logits(weights: InceptionWeights) -> str | None:
    return None if weights.has_logits else inception_score_unavailable_message(weights)


_SHARED = {"identify": identify, "view": view, "network": "inception-v3", "label": "Inception",
           "batch_size": (10, 64),  # small CPU batches measured faster
           "real_at_run_shape": True, "slow": True, "library": ("torch-fidelity",)}


@register_features("inception-logits", outputs=("2048", "logits_unbiased"), weights=weights_with_logits, **_SHARED)
@register_features("inception", outputs=("2048",), weights=any_weights, **_SHARED)
def build_inception(ctx: FeatureContext) -> InceptionExtractor:
    return InceptionExtractor(ctx.weights, ctx.device, logits="logits_unbiased" in ctx.outputs)
