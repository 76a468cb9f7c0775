"""Datasets as uint8 image tensors: ``load_dataset("mnist")``, ``load_dataset("folder:/my/pictures")``, ...

See ``describe_datasets()`` for what is available; ``registry.DATASETS`` is where one is added.
"""

from ganforge.data.dataset import ImageDataset
from ganforge.data.folder import FolderProbe, probe_folder
from ganforge.data.paths import user_cache_dir
from ganforge.data.registry import dataset_names, describe_datasets, load_dataset
from ganforge.data.stream import StreamingDataset

__all__ = ["FolderProbe", "ImageDataset", "StreamingDataset", "dataset_names", "describe_datasets", "load_dataset",
           "probe_folder", "user_cache_dir"]
