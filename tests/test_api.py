"""The Python API in a few lines: train, load a run, sample tensors and PIL images."""

import torch

import ganforge


def test_train_load_and_sample(tmp_path):
    run = ganforge.train(preset="dcgan-28-fast", dataset="mnist-sample", steps=2, batch_size=8,
                         extra={"width": 8}, out=str(tmp_path / "r"), progress=False)
    assert isinstance(run, ganforge.Run) and run.step == 2
    images = run.generate(10, seed=3)
    assert images.dtype == torch.uint8 and images.shape == (10, 1, 28, 28)
    assert torch.equal(images, run.generate(10, seed=3))
    assert torch.equal(images[:4], run.generate(4, seed=3, batch_size=3))  # batching does not change images
    pics = run.sample_pil(2)
    assert pics[0].size == (28, 28) and pics[0].mode == "L"
    again = ganforge.load_run(tmp_path / "r")
    assert torch.equal(again.generate(10, seed=3), images)
