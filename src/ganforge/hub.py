"""Pretrained generators in the folder shape the ecosystem expects, on disk or on the Hugging Face Hub.

A pretrained folder holds three files:

- ``config.json``: what rebuilds the network (the run's resolved training config, less local paths)
  plus ``preset``, ``image_shape``, ``z_dim``, ``num_classes``, ``class_names`` and ``step``;
- ``model.safetensors``: the generator's weights (the EMA of G when the run kept one, else G);
- ``README.md``: a model card (Hub metadata, what it is, how to load it), and ``samples.png`` beside it.

>>> run = ganforge.load_run("runs/dcgan-28-fast-mnist-20261123-101500")
>>> run.save_pretrained("my-digits")
>>> g = ganforge.Generator.from_pretrained("my-digits")   # or a Hub repo id, "user/my-digits"
>>> images = g.generate(16, seed=0)                        # the same images as run.generate(16, seed=0)

Nothing here needs the network: a local folder always loads offline. A Hub repo id is downloaded with
``huggingface_hub`` when it is installed and downloads are not turned off.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from . import __version__, accel
from .config import TrainConfig
from .errors import GanforgeError
from .fileio import atomic_path, atomic_write_text
from .images import save_grid
from .presets import get_preset
from .run import Run, sampling_plan
from .training import build_models, resolve_device

FORMAT = "ganforge-generator"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
MODEL_FILE = "model.safetensors"
CARD_FILE = "README.md"
SAMPLES_FILE = "samples.png"
# Machine-specific or meaningless once shared.
_PRIVATE_FIELDS = ("data_dir", "out")
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class Generator(Run):
    """A generator loaded from a pretrained folder (or Hub repo): everything a :class:`Run` offers for
    sampling (``generate``, ``sample_pil``, ``num_classes``...), without the training files."""

    @classmethod
    def from_pretrained(cls, path_or_repo_id: str | os.PathLike[str], *, device: str | None = None) -> Generator:
        return load_pretrained(path_or_repo_id, device=device)


def is_pretrained_folder(path: str | os.PathLike[str]) -> bool:
    path = Path(path)
    return (path / MODEL_FILE).is_file() and (path / CONFIG_FILE).is_file()


def save_pretrained(run: Run, path: str | os.PathLike[str]) -> Path:
    """Write ``run``'s sampling generator as a pretrained folder at ``path``; returns the folder."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    train_config = run.config.to_dict()
    for key in _PRIVATE_FIELDS:
        train_config[key] = None
    config = {"format": FORMAT, "format_version": FORMAT_VERSION, "ganforge_version": __version__,
              "preset": run.config.preset, "image_shape": list(run.image_shape), "z_dim": run.z_dim,
              "num_classes": run.num_classes, "class_names": run.class_names, "step": run.step,
              "output": "float N x C x H x W in [-1, 1]", "train_config": train_config}
    # clone(): safetensors refuses tensors that share storage.
    state = {k: v.detach().cpu().contiguous().clone() for k, v in run.generator.state_dict().items()}
    with atomic_path(path / MODEL_FILE) as tmp:
        save_file(state, str(tmp), metadata={"format": "pt", "ganforge": FORMAT})
    atomic_write_text(path / CONFIG_FILE, json.dumps(config, indent=2) + "\n")
    save_grid(run.generate(16, seed=0), path / SAMPLES_FILE, nrow=4)
    atomic_write_text(path / CARD_FILE, model_card(config, name=path.resolve().name))
    return path


def load_pretrained(path_or_repo_id: str | os.PathLike[str], *, device: str | None = None) -> Generator:
    """Load a pretrained folder, or download a Hub repo id first; the generator is in inference mode."""
    path = _resolve(path_or_repo_id)
    config = _read_config(path)
    try:
        train_config = TrainConfig.from_dict(config["train_config"], source=str(path / CONFIG_FILE))
    except (KeyError, TypeError):
        raise GanforgeError(f"'{path / CONFIG_FILE}' has no 'train_config' table; "
                            f"it is not a ganforge pretrained folder") from None
    preset = get_preset(train_config.preset)
    generator, _ = build_models(train_config, preset)
    try:
        state = load_file(str(path / MODEL_FILE))
    except (SafetensorError, OSError) as e:
        raise GanforgeError(f"'{path / MODEL_FILE}' is not a readable safetensors file ({e})") from None
    try:
        generator.load_state_dict(state, strict=True)
    except RuntimeError as e:
        lines = str(e).splitlines()
        raise GanforgeError(f"'{path / MODEL_FILE}' does not fit preset {train_config.preset!r} "
                            f"({(lines[1] if len(lines) > 1 else lines[0]).strip()})") from None
    dev = resolve_device(device or "auto")
    generator.to(dev).eval()
    accel.apply(sampling_plan(train_config, dev), generator)
    return Generator(path, train_config, preset, generator, dev, int(config.get("step", 0)), path / MODEL_FILE)


def _read_config(path: Path) -> dict[str, Any]:
    try:
        config = json.loads((path / CONFIG_FILE).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise GanforgeError(f"'{path / CONFIG_FILE}' is not valid JSON ({e})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise GanforgeError(f"'{path}' is not a ganforge pretrained folder ({CONFIG_FILE} lacks "
                            f"\"format\": \"{FORMAT}\")")
    if int(config.get("format_version", 0)) > FORMAT_VERSION:
        raise GanforgeError(f"'{path}' was written by a newer ganforge (format version "
                            f"{config['format_version']}); upgrade ganforge to load it")
    return config


def _resolve(path_or_repo_id: str | os.PathLike[str]) -> Path:
    """The local folder for a path or a Hub repo id (downloaded into the Hub cache)."""
    path = Path(path_or_repo_id).expanduser()
    if path.is_dir():
        if not is_pretrained_folder(path):
            hint = " (a run folder: load it with load_run, or save it with run.save_pretrained)" \
                if (path / "checkpoints").is_dir() else ""
            raise GanforgeError(f"'{path}' is not a ganforge pretrained folder: it needs {CONFIG_FILE} and "
                                f"{MODEL_FILE}{hint}")
        return path
    repo_id = str(path_or_repo_id)
    if not _REPO_ID.match(repo_id):
        raise GanforgeError(f"no pretrained folder '{repo_id}' (and it is not a Hub repo id like 'user/name')")
    return _download(repo_id)


def _download(repo_id: str) -> Path:
    if os.environ.get("GANFORGE_OFFLINE") == "1" or os.environ.get("HF_HUB_OFFLINE") == "1":
        raise GanforgeError(f"no local folder '{repo_id}', and downloads from the Hugging Face Hub are off "
                            f"(GANFORGE_OFFLINE or HF_HUB_OFFLINE is 1); give the path of a pretrained folder")
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise GanforgeError(f"no local folder '{repo_id}'; to download it from the Hugging Face Hub, "
                            f"pip install huggingface_hub") from None
    try:
        return Path(snapshot_download(repo_id, allow_patterns=[CONFIG_FILE, MODEL_FILE, CARD_FILE]))
    except Exception as e:  # network, authentication, missing repo: all one line for the user
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise GanforgeError(f"could not download '{repo_id}' from the Hugging Face Hub: {first}") from None


def model_card(config: dict[str, Any], name: str) -> str:
    """A short README.md with Hub metadata, what the model is and how to load it."""
    c, h, w = config["image_shape"]
    tc = config["train_config"]
    conditional = config.get("num_classes")
    what = (f"class-conditional ({conditional} classes"
            + (f": {', '.join(config['class_names'])})" if config.get("class_names") else ")")
            if conditional else "unconditional")
    tag = "image-generation" if conditional else "unconditional-image-generation"
    label_line = "labels = torch.arange(16) % g.num_classes\nimages = g.generate(16, seed=0, labels=labels)" \
        if conditional else "images = g.generate(16, seed=0)"
    return f"""---
library_name: ganforge
tags:
- ganforge
- gan
- {tag}
---

# {name}

A {what} GAN generator trained with ganforge {config.get("ganforge_version", "")}:
preset `{config["preset"]}` on `{tc.get("dataset")}` for {config.get("step", 0):,} steps
(batch {tc.get("batch_size")}, loss {tc.get("loss")}). It maps a latent vector of {config["z_dim"]} standard
normal numbers to a {h}x{w} image with {c} channel{"s" if c > 1 else ""}.

![16 samples, seed 0]({SAMPLES_FILE})

## Use

```python
{"import torch" + chr(10) if conditional else ""}import ganforge

g = ganforge.Generator.from_pretrained("{name}")   # this folder, or its Hub repo id
{label_line}   # uint8, 16 x {c} x {h} x {w}
```

From the shell: `ganforge sample {name} --n 64 --out grid.png`.

## Files

- `config.json`: preset, image shape, latent size, classes and the full training config
- `model.safetensors`: the generator's weights{" (the exponential moving average of G)" if tc.get("ema_kimg") else ""}
- `{SAMPLES_FILE}`: 16 samples from seed 0
"""
