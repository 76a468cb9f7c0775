"""Every preset builds, makes images of its shape, and the tutorial presets have exactly the
trainable parameter counts that Keras reports for the original models; ``ganforge presets`` lists them all
in a readable order, and ``ganforge presets NAME`` tells the recipe, the figures and the layers."""

from pathlib import Path

import pytest
import torch

from ganforge import PRESETS
from ganforge.cli import main
from ganforge.config import DEFAULT_PRESET
from ganforge.preset_catalog import compact, presets_table
from ganforge.presets import FAMILIES, Preset, build_models, measured_quality, preset_names, register_preset
from ganforge.presets.quality import METRICS, headline
from helpers import resolved

REPO = Path(__file__).resolve().parents[2]

# Keras model.count_params() of trainable weights (BatchNorm moving statistics are non-trainable).
KERAS_TRAINABLE = {
    "mlp-sgd": (1_489_936, 533_505),
    "mlp-adam": (1_486_352, 1_460_225),
    "dcgan-28": (2_305_472, 212_865),
    "dcgan-64-rgb": (2_471_555, 1_030_273),
    "dcgan-64-rgb-fixed": (2_471_555, 1_030_273),
}


def trainable(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters() if p.requires_grad)


# pytorch/examples dcgan/main.py's netG and netD (nz 100, ngf = ndf = 64, nc 3), every parameter trainable.
PYTORCH_EXAMPLES = {"dcgan-64-pytorch": (3_576_704, 2_765_568)}


def test_the_pytorch_dcgan_matches_the_programs_models():
    g, d = build_models(resolved(preset="dcgan-64-pytorch"))
    assert (trainable(g), trainable(d)) == PYTORCH_EXAMPLES["dcgan-64-pytorch"]
    # The layers sit in `main` with the program's indices, so its state dicts load as they are.
    assert [k for k in g.state_dict() if k.endswith("weight")][:3] == ["main.0.weight", "main.1.weight",
                                                                         "main.3.weight"]
    assert "main.11.weight" in d.state_dict() and not any(k.endswith("bias") and "main.0" in k for k in d.state_dict())
    cfg = resolved(preset="dcgan-64-pytorch")
    assert (cfg.d_update, cfg.g_noise, cfg.loss, cfg.init, cfg.batch_size, cfg.betas) == (
        "sum", "same", "bce", "dcgan", 64, (0.5, 0.999))


@pytest.mark.parametrize("name", list(KERAS_TRAINABLE))
def test_tutorial_presets_match_keras_parameter_counts(name):
    g, d = build_models(resolved(preset=name))
    assert (trainable(g), trainable(d)) == KERAS_TRAINABLE[name]


@pytest.mark.parametrize("name", list(PRESETS))
def test_preset_shapes(name):
    cfg = resolved(preset=name)  # the class count comes from the data: MNIST's ten classes
    y = torch.tensor([0, 4, 9]) if cfg.conditional else None
    g, d = build_models(cfg)
    g.eval()
    d.eval()
    z = torch.randn(3, cfg.z_dim)
    x = g(z) if y is None else g(z, y)
    assert x.shape == (3, *PRESETS[name].image_shape)
    assert x.min() >= -1 and x.max() <= 1  # tanh output
    assert (d(x) if y is None else d(x, y)).shape == (3,)


def test_latent_size_is_an_option():
    cfg = resolved(preset="dcgan-28", z_dim=32)
    g, _ = build_models(cfg)
    assert g(torch.randn(2, 32)).shape == (2, 1, 28, 28)


def test_faithful_64_generator_has_no_activation_after_batchnorm_and_fixed_one_does():
    def acts_after_bn(name):
        g, _ = build_models(resolved(preset=name))
        mods = list(g.net)
        return [type(mods[i + 1]).__name__ for i, m in enumerate(mods[:-1])
                if isinstance(m, torch.nn.BatchNorm2d)]

    assert acts_after_bn("dcgan-64-rgb") == ["ConvTranspose2d", "ConvTranspose2d"]
    assert acts_after_bn("dcgan-64-rgb-fixed") == ["LeakyReLU", "LeakyReLU"]


def test_keras_init_is_glorot_uniform_with_zero_bias():
    g, d = build_models(resolved(preset="mlp-adam"))
    lin = d.net[1]
    limit = (6 / (lin.in_features + lin.out_features)) ** 0.5
    assert lin.weight.abs().max() <= limit
    assert lin.weight.abs().max() > 0.9 * limit  # uniform over the whole range, not PyTorch's default
    assert torch.count_nonzero(lin.bias) == 0


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_states_its_measured_quality_and_budget(name, capsys):
    # `ganforge presets` shows each preset's headline figure; `ganforge presets NAME` its budget and command.
    # Only a preset for a GPU may wait for one (no GPU measured it yet), and then says how it is measured.
    found = headline(measured_quality().get(name, []))
    if found is None and PRESETS[name].purpose.startswith("GPU:"):
        assert main(["presets", name]) == 0
        assert "measured: nothing yet" in capsys.readouterr().out and (REPO / "bench" / "gpu_colour.sh").is_file()
        return
    assert found is not None, name
    m, figure = found
    assert figure.metric in ("fid", "domain_fid", "modes"), figure  # an FID, or the modes covered
    assert m.steps > 0 and m.batch_size > 0 and "steps" in m.budget, m.budget
    assert "core" in m.budget + m.machine or "GPU" in m.machine, m
    assert m.command and m.machine


def test_quality_json_holds_only_known_presets_metrics_and_scripts():
    from ganforge.metrics.registry import METRICS as EVAL_METRICS

    keys = {k for m in EVAL_METRICS.values() for k in m.keys}  # what ganforge eval writes
    quality = measured_quality()
    assert set(quality) <= set(PRESETS)
    assert {n for n, p in PRESETS.items() if not p.purpose.startswith("GPU:")} <= set(quality)  # CPU presets: all
    for name, record in quality.items():
        for m in record:
            assert m.figures, (name, m)
            for f in m.figures:
                assert f.metric in keys and f.metric in METRICS, f  # a key of metrics.json, with a label
                assert isinstance(f.value, (int, float)) and (f.n is None or f.n > 0), f
            for script in (w for w in m.command.split() if w.startswith("bench/")):
                assert (REPO / script).is_file(), m.command  # the command names a script that exists


def test_presets_are_listed_family_by_family_with_the_default_first():
    names = preset_names()
    assert sorted(names) == sorted(PRESETS) and names[0] == DEFAULT_PRESET
    families = [PRESETS[n].family for n in names]
    assert families == sorted(families, key=list(FAMILIES).index)  # each family together, in FAMILIES' order
    with pytest.raises(ValueError, match="family"):
        register_preset(Preset("x", "x", (1, 28, 28), generator=None, discriminator=None, family="misc"))


def test_the_table_fits_100_columns_and_lists_every_preset_once(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    assert out.strip() == presets_table()
    lines = out.splitlines()
    assert max(map(len, lines)) <= 100
    assert lines[0].split()[:2] == ["preset", "image"]
    rows = lines[1:lines.index("")]
    assert [r.split()[0] for r in rows] == preset_names()
    quality = measured_quality()
    for row in rows:
        name = row.split()[0]
        c, h, w = PRESETS[name].image_shape
        assert f"  {h}x{w}x{c}  " in row and PRESETS[name].purpose in row
        found = headline(quality.get(name, []))
        assert (found[1].short() if found else "not measured") in row
        if name in KERAS_TRAINABLE:
            g, d = KERAS_TRAINABLE[name]
            assert f"  {compact(g)} / {compact(d)}  " in row


def test_compact_counts():
    assert [compact(n) for n in (513, 36_513, 240_321, 999_499, 999_500, 2_305_472)] == \
        ["513", "37k", "240k", "999k", "1.00M", "2.31M"]


def test_presets_name_prints_the_recipe_the_figures_and_the_layers(capsys):
    assert main(["presets", "dcgan-28"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("dcgan-28: TensorFlow DCGAN tutorial")
    assert "image: 28x28x1 (1 channel, 28x28 pixels)" in lines
    assert "source: tensorflow.org/tutorials/generative/dcgan" in lines
    recipe = {ln.split()[0]: ln.split(None, 1)[1] for ln in lines if ln.startswith("  ") and len(ln.split()) >= 2}
    for key, value in PRESETS["dcgan-28"].defaults.items():  # every value the preset sets, one a line
        assert recipe[key].split(" (")[0] == (str(value).lower() if isinstance(value, bool) else str(value)), key
    assert recipe["lr_g"] == "0.0001" and recipe["d_update"] == "simultaneous"
    assert recipe["epochs"].startswith("50 (11,700 steps of 256")
    # the measured figures with their budget and command
    assert "Inception FID 372.6 (n = 2,000)" in out and "600 s of one core: 783 steps of 256" in out
    assert "$ OMP_NUM_THREADS=1 python bench/preset_quality.py --presets dcgan-28 --budget-s 600" in out
    # the Keras-style summaries with Keras' totals
    assert 'Model: "generator"' in out and 'Model: "discriminator"' in out
    assert "Total params: 2,330,944 (8.89 MB)" in lines and "Total params: 212,865 (831.50 KB)" in lines


def test_an_unknown_preset_name_is_a_one_line_error(capsys):
    assert main(["presets", "dcgan-29"]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert captured.out == "" and "\n" not in err
    assert "unknown preset 'dcgan-29'" in err and ", ".join(preset_names()) in err


def test_the_readme_results_quote_quality_json():
    # The README's results table copies ganforge's figures from quality.json; this keeps the copy true, and
    # keeps conditional and unconditional results apart and every FID at the n it states.
    readme = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    start = next(i for i, ln in enumerate(readme) if ln.startswith("| dataset | model | kind | Inception FID | n |"))
    end = next(i for i in range(start, len(readme)) if not readme[i].startswith("|"))
    ours = 0
    for row in readme[start + 2:end]:
        cells = [c.strip().replace("*", "").replace(",", "") for c in row.strip("|").split("|")]
        dataset, model, kind, fid, n = cells[:5]
        assert kind.split()[0] in ("conditional", "unconditional"), row
        if not model.startswith("`"):
            continue  # a published figure
        ours += 1
        name, conditional = model.split("`")[1].split()[0], kind.startswith("conditional")
        found = [f for m in measured_quality()[name] if m.dataset_name == dataset and m.conditional == conditional
                 for f in m.figures if f.metric == "fid" and f.n == int(n)]
        assert float(fid) in [f.value for f in found], row
    assert ours >= 4
