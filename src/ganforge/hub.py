"""Pretrained generators on disk or on the Hugging Face Hub (the public names; see ``ganforge.run.pretrained``).

>>> run = ganforge.load_run("runs/dcgan-28-fast-mnist-20261123-101500")
>>> run.save_pretrained("my-digits")
>>> g = ganforge.Generator.from_pretrained("my-digits")   # or a Hub repo id, "user/my-digits"
"""

from .run.model import Generator, load_pretrained
from .run.pretrained import is_pretrained_folder, model_card, save_pretrained

__all__ = ["Generator", "is_pretrained_folder", "load_pretrained", "model_card", "save_pretrained"]
