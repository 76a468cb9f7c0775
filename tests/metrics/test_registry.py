"""The registries: a metric is one decorated function, a feature kind one decorated builder; evaluate_run
needs no change for either, and the metrics package has no import cycle."""

import json

import pytest
import torch
from metrics_helpers import draw_shapes, quiet

from ganforge.errors import GanforgeError
from ganforge.metrics import FEATURES, METRICS, evaluate_run, registry
from ganforge.metrics.registry import (
    ExtractorInfo,
    MetricInputs,
    Target,
    View,
    conditional_runs,
    default_metric_names,
    register_features,
    register_metric,
)


@pytest.fixture
def scratch_registry():
    """Entries a test registers are gone after it."""
    metrics, features = dict(METRICS), dict(FEATURES)
    yield
    for table, saved in ((METRICS, metrics), (FEATURES, features)):
        table.clear()
        table.update(saved)


def test_a_new_feature_kind_and_metric_need_only_their_registrations(scratch_registry, fake_run, tmp_path):
    built = []

    def identify(extractor, ctx):
        return ExtractorInfo(title="mean brightness", short="brightness", cache_name="brightness-v1",
                             weights="(none)", weights_sha256="0" * 64, provenance={"brightness": True})

    @register_features("brightness", identify=identify, view=lambda shape, ctx: View("as is", "as is"),
                       network="brightness", label="brightness", outputs=("mean",), batch_size=(7, 7),
                       real_at_run_shape=True, slow=False, library=("ganforge",))
    def build(ctx):
        built.append(ctx.outputs)
        return lambda images: {"mean": images.float().mean(dim=(1, 2, 3))[:, None]}

    @register_metric("brightness-gap", features="brightness", needs_real=True, lower_is_better=True,
                     keys=("brightness_gap",), summary="difference of mean brightness", default=True)
    def brightness_gap(x: MetricInputs) -> dict[str, float]:
        return {"brightness_gap": float((x.fake["mean"].mean() - x.real["mean"].mean()).abs())}

    @register_metric("dark-share", features="brightness", needs_real=False, lower_is_better=False,
                     keys=("dark_share",), summary="share of dark images", default=True, requires=(conditional_runs,))
    def dark_share(x: MetricInputs) -> dict[str, float]:
        return {"dark_share": float((x.fake["mean"] < 64).double().mean())}

    folder = f"folder:{draw_shapes(tmp_path / 'shapes', count=9)}"
    # Defaults follow the entries: the conditional-only metric is left out of an unconditional run.
    assert default_metric_names(Target(folder, False), inception=False) == ["brightness-gap"]
    assert default_metric_names(Target(folder, True), inception=False) == ["brightness-gap", "dark-share"]
    black = fake_run(lambda n, seed, labels: torch.zeros(n, 3, 28, 28, dtype=torch.uint8), dataset=folder,
                     shape=(3, 28, 28))
    with pytest.raises(GanforgeError, match="metric 'dark-share': needs a class-conditional run"):
        evaluate_run(black, ["dark-share"], n=8, log=quiet, progress=False)
    lines = []
    out = evaluate_run(black, ["brightness-gap"], n=8, log=lines.append, progress=False)["brightness-gap"]
    assert out["brightness_gap"] > 100 and out["n"] == 8 and out["n_real"] == 8 and out["brightness"] is True
    assert out["protocol"]["extractor"] == "mean brightness" and out["protocol"]["features"] == "brightness"
    assert built == [frozenset({"mean"})]
    assert any(line.startswith("protocol: 8 samples (seed 0) vs 8 folder:") for line in lines)
    saved = json.loads((black.path / "metrics.json").read_text())
    assert saved["brightness-gap"]["protocol"]["resize_real"].endswith("centre-cropped to 28x28; then as is")


def test_registering_a_name_twice_is_refused(scratch_registry):
    with pytest.raises(ValueError, match="'fid' registered twice"):
        register_metric("fid", features="inception", needs_real=True, lower_is_better=True, keys=("fid",),
                        summary="again")(lambda x: {})
    with pytest.raises(ValueError, match="'domain' registered twice"):
        register_features("domain")(lambda ctx: None)


@pytest.mark.parametrize(("dataset", "conditional", "expected"), [
    ("mnist", False, ["domain-fid", "domain-is", "class-kl", "confident", "fid", "kid", "pr", "is"]),
    ("fashion-mnist", True, ["domain-fid", "domain-is", "class-kl", "confident", "class-accuracy", "fid", "kid",
                             "pr", "is"]),
    ("stacked-mnist", False, ["domain-fid", "domain-is", "class-kl", "confident", "modes", "fid", "kid", "pr", "is"]),
    ("folder:/pictures", True, ["fid", "kid", "pr", "is"]),
])
def test_the_default_metrics_are_derived_from_the_entries(dataset, conditional, expected):
    assert default_metric_names(Target(dataset, conditional)) == expected
    cheap = [name for name in expected if METRICS[name].kind.weights is None]
    assert default_metric_names(Target(dataset, conditional), inception=False) == cheap


def test_every_metric_names_a_registered_feature_kind_and_its_keys():
    assert set(FEATURES) == {"inception", "inception-logits", "domain"}
    for metric in METRICS.values():
        assert metric.features in FEATURES and metric.keys and metric.summary
    # Kinds sharing a network agree on how it runs.
    inception, logits = FEATURES["inception"], FEATURES["inception-logits"]
    assert inception.network == logits.network and inception.build is logits.build
    assert inception.batch_size == logits.batch_size and inception.slow and logits.slow


def test_no_import_cycle_in_the_metrics_package_and_no_import_of_the_training_loop():
    grimp = pytest.importorskip("grimp")
    graph = grimp.build_graph("ganforge", cache_dir=None)
    modules = sorted(m for m in graph.modules if m == "ganforge.metrics" or m.startswith("ganforge.metrics."))
    assert "ganforge.metrics.registry" in modules and "ganforge.metrics.catalog" in modules
    for a in modules:
        for b in modules:
            if a < b and graph.find_shortest_chain(importer=a, imported=b):
                assert not graph.find_shortest_chain(importer=b, imported=a), f"import cycle: {a} <-> {b}"
        imported = graph.find_modules_directly_imported_by(a)
        assert "ganforge.training" not in imported and "ganforge" not in imported, a
    # The registry imports nothing that registers entries.
    assert not {m for m in graph.find_modules_directly_imported_by("ganforge.metrics.registry")
                if m.startswith("ganforge.metrics")}
    assert registry.METRICS is METRICS
