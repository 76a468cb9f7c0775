"""The domain evaluator: storage (safetensors + JSON sidecar), training, on-demand use."""

import json

import pytest
import torch
from metrics_helpers import SHARED_DATA, USER_CACHE, quiet

from ganforge.data.dataset import ImageDataset
from ganforge.errors import GanforgeError
from ganforge.metrics import evaluator as ev
from ganforge.metrics.classifier import ARCHITECTURE, DigitCNN


def small_dataset(name: str, n: int, seed: int) -> ImageDataset:
    """Digits-like data that a CNN can learn in one short epoch: class c lights up row block c."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 10, (n,), generator=gen)
    images = torch.randint(0, 60, (n, 1, 28, 28), generator=gen, dtype=torch.uint8)
    for c in range(10):
        images[labels == c, :, 2 + 2 * c : 4 + 2 * c, 4:24] = 255
    return ImageDataset(name=name, images=images, labels=labels, class_names=[str(d) for d in range(10)],
                        source="test")


def test_train_evaluator_on_a_tiny_set_writes_weights_and_sidecar(monkeypatch):
    monkeypatch.setattr(ev, "_load_full", lambda dataset, data_dir, log: (small_dataset(dataset, 1500, 0),
                                                                         small_dataset(dataset, 300, 1)))
    lines = []
    trained = ev.train_evaluator("fashion-mnist", epochs=1, log=lines.append, progress=False)
    weights, sidecar = ev.evaluator_paths("fashion-mnist")
    assert weights.suffix == ".safetensors" and weights.is_file()
    info = json.loads(sidecar.read_text())
    assert info["dataset"] == "fashion-mnist" and info["architecture"] == ARCHITECTURE
    assert info["version"] == ev.VERSION and info["epochs"] == 1 and 0.0 <= info["test_accuracy"] <= 1.0
    assert info["weights_sha256"] == trained.sha256
    assert any("test accuracy" in line for line in lines)
    assert not list(weights.parent.glob(".*.tmp"))  # atomic writes leave no temporary files

    loaded = ev.load_evaluator("fashion-mnist")
    images = small_dataset("x", 8, 2).images
    torch.testing.assert_close(loaded(images)["logprobs"], trained(images)["logprobs"])


def test_a_changed_weights_file_is_not_trusted(tiny_evaluator):
    weights, _ = ev.evaluator_paths("mnist")
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in DigitCNN().state_dict().items()}, str(weights))
    assert ev.load_evaluator("mnist") is None


def test_missing_evaluator_is_trained_on_demand_with_a_notice(monkeypatch, tiny_evaluator):
    weights, sidecar = ev.evaluator_paths("mnist")
    sidecar.unlink()
    calls = []
    monkeypatch.setattr(ev, "train_evaluator",
                        lambda dataset, **kw: calls.append((dataset, kw["progress"])) or tiny_evaluator)
    lines = []
    got = ev.get_evaluator("stacked-mnist", log=lines.append, progress=False)  # as `--no-progress` and training
    assert calls == [("mnist", False)] and isinstance(got, ev.StackedEvaluator) and got.num_classes == 1000
    assert len(lines) == 1 and "No mnist evaluator yet: training one now" in lines[0]


def test_unavailable_dataset_is_a_clear_error(monkeypatch):
    import ganforge.data

    def unavailable(name, **kwargs):
        raise GanforgeError(f"{name} train split not found in /nowhere, and downloading is off")

    monkeypatch.setattr(ganforge.data, "load_dataset", unavailable)
    with pytest.raises(GanforgeError, match="cannot train the fashion-mnist evaluator: fashion-mnist train split"):
        ev.get_evaluator("fashion-mnist", log=quiet)


def test_the_5k_mnist_fallback_is_refused_for_training(monkeypatch):
    import ganforge.data

    monkeypatch.setattr(ganforge.data, "load_dataset",
                        lambda name, split, **kw: small_dataset("mnist-sample" if split == "train" else name, 50, 0))
    with pytest.raises(GanforgeError, match="needs the full mnist train split, got mnist-sample"):
        ev.train_evaluator("mnist", log=quiet)


def test_only_mnist_family_datasets_have_evaluators():
    with pytest.raises(GanforgeError, match="MNIST-family"):
        ev.get_evaluator("folder:/pictures", log=quiet)
    with pytest.raises(GanforgeError, match="expected one of mnist, fashion-mnist"):
        ev.train_evaluator("stacked-mnist", log=quiet)


def test_rgb_images_of_a_grey_dataset_are_judged_by_luminance(tiny_evaluator, mnist_test):
    grey = mnist_test.images[:16]
    rgb = grey.expand(-1, 3, -1, -1)
    torch.testing.assert_close(tiny_evaluator(rgb)["logprobs"], tiny_evaluator(grey)["logprobs"])


def test_other_image_sizes_are_resized_to_28(tiny_evaluator, mnist_test):
    big = torch.nn.functional.interpolate(mnist_test.images[:200].float(), size=32, mode="bilinear")
    out = tiny_evaluator(big.round().clamp(0, 255).to(torch.uint8))
    agree = (out["logprobs"].argmax(1) == tiny_evaluator(mnist_test.images[:200])["logprobs"].argmax(1)).float()
    assert agree.mean() > 0.9


@pytest.mark.parametrize(("dataset", "floor"), [("mnist", 0.993), ("fashion-mnist", 0.91)])
def test_fully_trained_evaluator_in_the_user_cache_meets_its_accuracy(monkeypatch, dataset, floor):
    """Uses the evaluator `ganforge evaluator train` stored for the user; skipped when there is none."""
    from ganforge.data import load_dataset
    from ganforge.metrics.classifier import accuracy

    monkeypatch.setenv("GANFORGE_CACHE_DIR", str(USER_CACHE))
    trained = ev.load_evaluator(dataset)
    if trained is None:
        pytest.skip(f"no trained {dataset} evaluator in {USER_CACHE}")
    if not (SHARED_DATA / dataset).is_dir():
        pytest.skip(f"{dataset} not present at {SHARED_DATA}")
    test = load_dataset(dataset, split="test", data_dir=SHARED_DATA, download=False, log=quiet)
    acc = accuracy(trained.model, test.images, test.labels)
    assert acc >= floor
    assert trained.info["test_accuracy"] == pytest.approx(acc, abs=1e-4)
