"""ganforge: train GANs that make images, sample from them, measure them.

>>> from ganforge import TrainConfig, Trainer, load_run
>>> run_dir = Trainer(TrainConfig(preset="dcgan-28-fast", steps=200)).train()
>>> images = load_run(run_dir).generate(16)   # uint8, 16 x 1 x 28 x 28
"""

from .version import __version__  # first: modules imported below read it

# isort: split
from .config import TrainConfig  # noqa: E402
from .errors import GanforgeError  # noqa: E402
from .hub import Generator  # noqa: E402
from .presets import PRESETS, get_preset  # noqa: E402
from .run import Run, load_run  # noqa: E402
from .training import Trainer  # noqa: E402


def train(config: TrainConfig | None = None, **fields) -> Run:
    """Train with ``config`` (or keyword fields of :class:`TrainConfig`) and return the loaded run."""
    cfg = config or TrainConfig(**fields)
    return load_run(Trainer(cfg).train())


__all__ = ["GanforgeError", "Generator", "PRESETS", "Run", "TrainConfig", "Trainer", "get_preset", "load_run", "train",
           "__version__"]
