"""ganforge: train GANs that make images, sample from them, measure them.

>>> from ganforge import TrainConfig, Trainer, load_run
>>> run_dir = Trainer(TrainConfig(preset="dcgan-28-fast", steps=200)).train()
>>> images = load_run(run_dir).generate(16)   # uint8, 16 x 1 x 28 x 28
"""

from .config import RunConfig, TrainConfig
from .errors import GanforgeError
from .presets import PRESETS, get_preset
from .run import Generator, Run, load_run
from .training import Trainer
from .version import __version__


def train(config: TrainConfig | None = None, **fields) -> Run:
    """Train with ``config`` (or keyword fields of :class:`TrainConfig`) and return the loaded run."""
    cfg = config or TrainConfig(**fields)
    return load_run(Trainer(cfg).train())


__all__ = ["GanforgeError", "Generator", "PRESETS", "Run", "RunConfig", "TrainConfig", "Trainer", "get_preset",
           "load_run", "train", "__version__"]
