"""A self-conditioned run (``--clusters K``): G and D are trained on k-means clusters of the images instead of
labels, and the run samples, saves, exports and resumes as an unconditional model whose latent has one more
coordinate (the cluster's)."""

import numpy as np
import onnxruntime as ort
import pytest
import torch

import ganforge
from ganforge import GanforgeError, TrainConfig, Trainer
from ganforge.cli import main
from ganforge.data import load_dataset
from ganforge.data.clusters import with_clusters
from ganforge.export import export_run

K = 6
TINY = {"preset": "dcgan-28-cond", "dataset": "mnist-sample", "batch_size": 8, "extra": {"width": 4},
        "log_every": 2, "progress": False}


def trainer(out, **kw) -> Trainer:
    return Trainer(TrainConfig(**{**TINY, "clusters": K, "steps": 4, **kw}, out=str(out)), log=lambda *_: None)


@pytest.fixture(scope="module")
def cluster_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("clusters") / "run"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GANFORGE_OFFLINE", "1")
        trainer(out).train()
    return out


def test_g_and_d_train_on_the_clusters_not_the_digits(tmp_path):
    t = trainer(tmp_path / "r")
    cfg = t.cfg
    clusters = with_clusters(load_dataset("mnist-sample", log=lambda _: None), K, log=lambda _: None).labels
    assert not cfg.conditional and cfg.num_classes == K and cfg.class_names is None
    assert cfg.cluster_shares == pytest.approx((torch.bincount(clusters) / len(clusters)).tolist())
    assert torch.equal(t.gan.sampler.labels.cpu(), clusters)  # D sees each real image's cluster
    seen = []
    g = t.gan.G_run

    def spy(z, y):
        seen.append(y)
        return g(z, y)

    t.gan.G_run = spy
    t.train_step()
    assert seen and all(y is not None and 0 <= int(y.min()) and int(y.max()) < K for y in seen)


def test_the_run_samples_as_an_unconditional_model(cluster_run, tmp_path):
    run = ganforge.load_run(cluster_run, device="cpu")
    assert run.num_classes is None and run.class_names is None and run.z_dim == run.config.z_dim + 1
    a = run.generate(12, seed=5)
    assert a.shape == (12, 1, 28, 28) and torch.equal(a, run.generate(12, seed=5))
    # the last latent coordinate is the cluster: moving it across the slices changes the picture
    z = run.noise(2, seed=0)
    z[:, -1] = torch.tensor([-4.0, 4.0])
    first, last = run.generate(2, z=z)
    assert not torch.equal(first, last)
    assert main(["sample", str(cluster_run), "--class", "1", "--out", str(tmp_path / "x.png"), "--device", "cpu"]) == 2

    saved = ganforge.Generator.from_pretrained(run.save_pretrained(tmp_path / "pre"), device="cpu")
    assert saved.z_dim == run.z_dim and torch.equal(saved.generate(12, seed=5), a)


def test_the_exported_model_is_a_function_of_z_alone(cluster_run, tmp_path):
    run = ganforge.load_run(cluster_run, device="cpu")
    session = ort.InferenceSession(str(export_run(cluster_run, "onnx", tmp_path / "g.onnx")),
                                   providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["z"]
    z = run.noise(7, seed=2)
    [got] = session.run(["images"], {"z": z.numpy()})
    with torch.no_grad():
        np.testing.assert_allclose(got, run.generator(z).numpy(), atol=1e-5, rtol=0)


def test_a_resumed_run_finds_the_same_clusters(cluster_run, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(cluster_run, copy)
    before = ganforge.load_run(copy).config
    Trainer.resume(copy, steps=6, log=lambda *_: None).train()
    after = ganforge.load_run(copy)
    assert after.step == 6 and after.config.cluster_shares == before.cluster_shares


@pytest.mark.parametrize("kw, match", [
    ({"conditional": True}, "clusters 6 conditions on clusters found without labels; drop --conditional"),
    ({"preset": "mlp-adam", "extra": {}}, "preset 'mlp-adam' has no conditional version, which --clusters needs"),
    ({"pack": 2}, "pack 2 does not work with clusters"),
    ({"clusters": 1}, "clusters must be an integer of at least 2, got 1"),
])
def test_what_cannot_be_self_conditioned_is_refused_in_one_line(tmp_path, kw, match):
    with pytest.raises(GanforgeError, match=match):
        trainer(tmp_path / "r", **kw)
