"""Pretrained generators: the folder shape the ecosystem expects, on disk or on the Hugging Face Hub.

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

from safetensors.torch import save_file

from ..errors import GanforgeError
from ..fileio import atomic_path, atomic_write_text
from ..images import save_grid
from ..models.clusters import trained_generator
from ..version import __version__

FORMAT = "ganforge-generator"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
MODEL_FILE = "model.safetensors"
CARD_FILE = "README.md"
SAMPLES_FILE = "samples.png"
# Machine-specific or meaningless once shared.
_PRIVATE_FIELDS = ("data_dir", "out")
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def is_pretrained_folder(path: str | os.PathLike[str]) -> bool:
    path = Path(path)
    return (path / MODEL_FILE).is_file() and (path / CONFIG_FILE).is_file()


def save_pretrained(run: Any, path: str | os.PathLike[str]) -> Path:
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
    state = {k: v.detach().cpu().contiguous().clone() for k, v in trained_generator(run.generator).state_dict().items()}
    with atomic_path(path / MODEL_FILE) as tmp:
        save_file(state, str(tmp), metadata={"format": "pt", "ganforge": FORMAT})
    atomic_write_text(path / CONFIG_FILE, json.dumps(config, indent=2) + "\n")
    save_grid(run.generate(16, seed=0), path / SAMPLES_FILE, nrow=4)
    atomic_write_text(path / CARD_FILE, model_card(config, name=path.resolve().name))
    return path


def read_config(path: Path) -> dict[str, Any]:
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


def resolve_folder(path_or_repo_id: str | os.PathLike[str]) -> Path:
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
