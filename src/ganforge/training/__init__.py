"""Training: ``build`` turns a request into built objects, ``GANStep`` runs one step through an update rule,
``Trainer`` loops, logs, checkpoints and resumes. Only ``ganforge train`` and the Python API import it."""

from .loop import Trainer
from .sampler import BatchSampler

__all__ = ["BatchSampler", "Trainer"]
