"""class_mix: conditional runs are sampled in the real split's class proportions, every prefix balanced."""

import pytest
import torch

from ganforge.errors import GanforgeError
from ganforge.metrics.realdata import class_mix

MNIST_TEST_COUNTS = torch.tensor([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])


def test_equal_counts_give_the_round_robin_of_classes():
    assert torch.equal(class_mix(torch.full((10,), 7), 200), torch.arange(200) % 10)
    assert torch.equal(class_mix(torch.ones(3), 5), torch.tensor([0, 1, 2, 0, 1]))


def test_the_totals_are_the_largest_remainder_shares():
    assert torch.equal(class_mix(MNIST_TEST_COUNTS, 10_000).bincount(), MNIST_TEST_COUNTS)
    # 3 labels from 1:1:2 -> exact shares 0.75, 0.75, 1.5: the largest remainders (0.75, 0.75) get the two left
    assert class_mix(torch.tensor([1, 1, 2]), 3).bincount(minlength=3).tolist() == [1, 1, 1]
    assert class_mix(torch.tensor([0, 3, 1]), 4).tolist() == [1, 1, 2, 1]  # an empty class gets no samples


def test_every_prefix_keeps_the_mix():
    labels = class_mix(MNIST_TEST_COUNTS, 10_000)
    for k in (100, 1000, 2000, 5000):
        expected = MNIST_TEST_COUNTS * k / 10_000
        assert (labels[:k].bincount(minlength=10) - expected).abs().max() <= 1.0


@pytest.mark.parametrize("counts", [[], [0, 0], [3, -1]])
def test_counts_without_a_positive_total_are_refused(counts):
    with pytest.raises(GanforgeError, match="class counts must be non-negative with a positive total"):
        class_mix(torch.tensor(counts), 10)


def test_the_real_class_counts_of_a_folder_come_from_its_sub_folders(tmp_path):
    from PIL import Image

    from ganforge.metrics.realdata import real_class_counts

    for name, count in (("ants", 1), ("bees", 3), ("cats", 2)):
        (tmp_path / name).mkdir()
        for i in range(count):
            Image.new("RGB", (8, 8), (i * 40, 0, 0)).save(tmp_path / name / f"{i}.png")
    dataset = f"folder:{tmp_path}"
    counts = real_class_counts(dataset, "train", 3, log=lambda _: None)
    assert counts.tolist() == [1, 3, 2]
    assert real_class_counts(dataset, "train", 4, log=lambda _: None).tolist() == [1, 3, 2, 0]
    with pytest.raises(GanforgeError, match="has 3 classes but the run was trained with 2; use --classes uniform"):
        real_class_counts(dataset, "train", 2, log=lambda _: None)


def test_the_class_counts_are_cached_with_the_real_features(mnist_test, tmp_path):
    from ganforge.metrics.realdata import real_class_counts

    counts = real_class_counts("mnist", "test", 10, data_dir=mnist_test.data_dir, log=lambda _: None)
    assert torch.equal(counts, MNIST_TEST_COUNTS)
    # A second evaluation (features and counts cached) needs no data set on disk.
    again = real_class_counts("mnist", "test", 10, data_dir=tmp_path / "no-data", log=lambda _: None)
    assert torch.equal(again, MNIST_TEST_COUNTS)
