"""Finding and checking the Inception weights: one clear line when they are missing, never NaN."""

import time

import pytest
import torch
from metrics_helpers import shared_inception_weights

from ganforge.errors import GanforgeError
from ganforge.metrics import inception as inc
from ganforge.metrics.registry import MetricInputs
from ganforge.metrics.standard import inception_score


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    """No weights anywhere: an empty torch-hub folder and no GANFORGE_INCEPTION_WEIGHTS."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv(inc.WEIGHTS_ENV, raising=False)
    return tmp_path


def fake_state_dict(path, *, nan_fc: bool):
    """A tiny file with the keys inspect_weights checks (the real file is 95 MB)."""
    fc = torch.full((4, 2), float("nan")) if nan_fc else torch.ones(4, 2)
    state = {"Conv2d_1a_3x3.conv.weight": torch.ones(1), "Mixed_7c.branch_pool.conv.weight": torch.ones(1),
             "fc.weight": fc, "fc.bias": fc[:, 0]}
    torch.save(state, path)
    return path


def test_missing_weights_offline_is_one_line_naming_every_way_to_provide_them(no_weights):
    with pytest.raises(GanforgeError) as e:
        inc.resolve_inception_weights(log=lambda _: None)  # GANFORGE_OFFLINE is set by the root conftest
    message = str(e.value)
    assert "\n" not in message
    assert "--inception-weights" in message and inc.WEIGHTS_ENV in message and inc.WEIGHTS_FILENAME in message


def test_failed_download_is_quick_and_one_line(no_weights, monkeypatch):
    monkeypatch.delenv("GANFORGE_OFFLINE", raising=False)
    monkeypatch.setattr(inc, "WEIGHTS_URL", "http://127.0.0.1:9/weights.pth")  # refused at once, no network
    start = time.perf_counter()
    with pytest.raises(GanforgeError) as e:
        inc.resolve_inception_weights(log=lambda _: None)
    assert time.perf_counter() - start < 10
    assert "\n" not in str(e.value) and "download from http://127.0.0.1:9/weights.pth failed" in str(e.value)
    assert not inc.hub_weights_path().exists()  # no half-written file left behind


def test_no_download_when_told_not_to(no_weights):
    with pytest.raises(GanforgeError, match="Inception weights not found"):
        inc.resolve_inception_weights(download=False)


def test_explicit_or_env_path_that_does_not_exist(no_weights, monkeypatch):
    with pytest.raises(GanforgeError, match="--inception-weights .*: no such file"):
        inc.find_inception_weights(no_weights / "nope.pth")
    monkeypatch.setenv(inc.WEIGHTS_ENV, str(no_weights / "nope.pth"))
    with pytest.raises(GanforgeError, match=f"{inc.WEIGHTS_ENV}=.*no such file"):
        inc.find_inception_weights()


def test_lookup_order_explicit_then_env_then_torch_hub(no_weights, monkeypatch):
    hub = inc.hub_weights_path()
    hub.parent.mkdir(parents=True)
    fake_state_dict(hub, nan_fc=False)
    assert inc.find_inception_weights() == (hub, "torch-hub cache")
    env = fake_state_dict(no_weights / "env.pth", nan_fc=False)
    monkeypatch.setenv(inc.WEIGHTS_ENV, str(env))
    assert inc.find_inception_weights() == (env, inc.WEIGHTS_ENV)
    explicit = fake_state_dict(no_weights / "explicit.pth", nan_fc=False)
    assert inc.find_inception_weights(explicit) == (explicit, "--inception-weights")


def test_nan_logits_are_detected_and_is_says_it_needs_the_full_weights(no_weights):
    weights = inc.inspect_weights(fake_state_dict(no_weights / "w.pth", nan_fc=True))
    assert weights.has_logits is False and len(weights.sha256) == 64
    message = inc.inception_score_unavailable_message(weights)
    assert "needs the full Inception weights" in message
    assert "nan" not in message.replace(str(weights.path), "").lower()
    with pytest.raises(GanforgeError, match="needs the full Inception weights"):
        inc.InceptionExtractor(weights, "cpu", logits=True)


def test_select_metrics_refuses_is_with_the_fid_only_file(no_weights):
    from ganforge.metrics.evaluate import select_metrics

    path = fake_state_dict(no_weights / "w.pth", nan_fc=True)
    with pytest.raises(GanforgeError) as e:
        select_metrics(["fid", "is"], dataset="mnist", conditional=False, inception_weights=path)
    assert "Inception Score needs the full Inception weights" in str(e.value) and "\n" not in str(e.value)
    names, weights = select_metrics(["fid", "kid", "pr"], dataset="mnist", conditional=False,
                                    inception_weights=path)
    assert names == ["fid", "kid", "pr"] and weights.path == path


def test_inception_score_never_returns_nan():
    logits = torch.full((20, 1008), float("nan"))
    with pytest.raises(GanforgeError, match="not finite"):
        inception_score(MetricInputs(fake={"logits_unbiased": logits}, real=None, labels=None, dataset="mnist"))


def test_not_a_state_dict_is_a_clear_error(no_weights):
    bad = no_weights / "bad.pth"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(GanforgeError, match="unreadable state_dict"):
        inc.inspect_weights(bad)
    torch.save({"something": torch.ones(1)}, bad)
    with pytest.raises(GanforgeError, match="not a torch-fidelity Inception-v3 state_dict"):
        inc.inspect_weights(bad)


def test_the_shared_offline_file_has_no_logits():
    path = shared_inception_weights()
    if path is None:
        pytest.skip("no Inception weights file available")
    weights = inc.inspect_weights(path)
    if weights.has_logits:
        pytest.skip(f"{path} is a full weights file")
    assert weights.sha256 == "d34bf1c24c9ac36cbfc2cc90797b537e5cff89068c9db60ff316263bac5e583b"
