"""The ``ganforge`` command. Each subcommand is a small function; errors meant for the user are
``GanforgeError`` and become one line on stderr with exit status 2."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import __version__
from .argtypes import OneLineParser, non_negative_float, non_negative_int, positive_float, positive_int
from .config import TrainConfig, read_config_file
from .distributed import barrier, shutdown
from .errors import GanforgeError
from .export import add_export_parser
from .metrics.commands import add_eval_parser, add_evaluator_parser
from .report import add_report_parser
from .web.server import add_serve_parser

# CLI flag -> config field, for every field that `train` can set.
_TRAIN_FIELDS = ["preset", "dataset", "data_dir", "steps", "epochs", "batch_size", "z_dim", "optimizer",
                 "lr_g", "lr_d", "betas", "momentum", "loss", "d_update", "d_steps", "g_noise", "seed", "device",
                 "precision", "compile", "channels_last", "accel", "max_bad_steps",
                 "out", "log_every", "grid_every", "grid_size", "checkpoint_every", "init", "ema_kimg", "eval_every",
                 "eval_metric", "eval_n", "r1_gamma", "r1_every", "gp_weight", "spectral_norm", "augment",
                 "lr_schedule", "lr_decay_steps", "pack", "logger", "conditional"]


def add_train_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a GAN (default: the fast DCGAN on MNIST)",
                       description="Train a preset on a dataset. Flags override the config file, which "
                                   "overrides the preset's defaults.")
    p.add_argument("--preset", help="model recipe (see 'ganforge presets'); default dcgan-28-fast")
    p.add_argument("--dataset", help="mnist, fashion-mnist, mnist-sample, stacked-mnist or folder:PATH")
    p.add_argument("--data-dir", help="folder holding mnist/ and fashion-mnist/ (else $GANFORGE_DATA_DIR)")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--steps", type=positive_int, help="total steps of the run (resume counts on to it)")
    length.add_argument("--epochs", type=positive_int, help="total epochs of the run")
    p.add_argument("--batch-size", type=positive_int)
    p.add_argument("--z-dim", type=positive_int, help="latent size")
    p.add_argument("--optimizer", choices=["adam", "sgd"])
    p.add_argument("--lr-g", type=positive_float, help="generator learning rate")
    p.add_argument("--lr-d", type=positive_float, help="discriminator learning rate")
    p.add_argument("--betas", type=float, nargs=2, metavar=("B1", "B2"), help="Adam betas")
    p.add_argument("--momentum", type=float, help="SGD momentum")
    p.add_argument("--loss", help="GAN loss: bce, ns, minimax, hinge, lsgan, wasserstein")
    p.add_argument("--d-update", choices=["sum", "concat", "separate", "simultaneous"],
                   help="how D and G updates interleave (see docs)")
    p.add_argument("--d-steps", type=positive_int, help="D updates per G update")
    p.add_argument("--g-noise", choices=["fresh", "reuse"],
                   help="G's step on fresh noise (default) or on the D step's noise, as the Keras MLP-Adam loop")
    p.add_argument("--init", choices=["keras", "dcgan", "torch"], help="weight initialisation")
    p.add_argument("--ema-kimg", type=non_negative_float, help="half-life of the EMA of G's weights in thousands of "
                                                  "images (0 = off); sampling uses the EMA when on")
    p.add_argument("--r1-gamma", type=non_negative_float, help="R1 penalty weight on real images (0 = off)")
    p.add_argument("--r1-every", type=positive_int, help="lazy R1: apply it every N D steps, scaled by N")
    p.add_argument("--gp-weight", type=non_negative_float, help="WGAN-GP gradient penalty weight (0 = off)")
    p.add_argument("--spectral-norm", choices=["none", "d", "gd"], help="spectral normalisation of D or of G and D")
    p.add_argument("--augment", help="DiffAugment for D's inputs: none or a comma list of translation,cutout,color")
    p.add_argument("--lr-schedule", choices=["constant", "linear", "cosine"], help="learning-rate decay over the run")
    p.add_argument("--lr-decay-steps", type=positive_int, metavar="N",
                   help="decay over the last N steps only, constant before; with --resume, adds such a decay "
                        "to a constant-rate run (default: the whole run)")
    p.add_argument("--pack", type=positive_int, metavar="M",
                   help="PacGAN: D judges M samples at once, stacked on channels (default 1 = off)")
    p.add_argument("--seed", type=non_negative_int)
    p.add_argument("--device", help="auto, cpu, cuda or cuda:N (default auto)")
    p.add_argument("--precision", choices=["fp32", "bf16"],
                   help="fp32 (default) or bf16 autocast of the forward passes (changes the rounding)")
    p.add_argument("--compile", choices=["auto", "none", "default", "reduce-overhead", "max-autotune"],
                   help="torch.compile mode for G and D (default auto: on GPUs only)")
    p.add_argument("--channels-last", choices=["auto", "on", "off"],
                   help="NHWC memory layout for convolutions (default auto: on for conv nets)")
    p.add_argument("--accel", help="CPU speed tricks: auto (default: where they win on this CPU), off, or a comma "
                                   "list of fourier, col2im, fast_dropout, shared_backward, allocator")
    p.add_argument("--max-bad-steps", type=positive_int,
                   help="stop after this many steps in a row with a NaN/Inf loss or gradient (default 20)")
    p.add_argument("--out", help="run folder (default runs/PRESET-DATASET-TIME)")
    p.add_argument("--log-every", type=positive_int, help="steps between log lines")
    p.add_argument("--grid-every", type=positive_int, help="steps between sample grids")
    p.add_argument("--grid-size", type=positive_int, help="grid is N x N images (default 5)")
    p.add_argument("--checkpoint-every", type=positive_int)
    p.add_argument("--eval-every", type=positive_int, help="evaluate every N steps; keeps a 'best' checkpoint")
    p.add_argument("--eval-metric", help="metric for --eval-every (default domain-fid; see 'ganforge eval -h')")
    p.add_argument("--eval-n", type=positive_int, help="images per evaluation during training (default 5000)")
    p.add_argument("--logger", choices=["none", "tensorboard"],
                   help="also log losses, metrics and grids to TensorBoard (RUN_DIR/tensorboard/); default none")
    p.add_argument("--conditional", action=argparse.BooleanOptionalAction, default=None,
                   help="class-conditional G and D, classes from the dataset's labels (dcgan-28-cond has it on)")
    p.add_argument("--width", type=positive_int, metavar="N",
                   help="channel width of the lean DCGAN and ResNet presets (extra.width; default 32 or 64)")
    p.add_argument("--config", help="TOML or YAML file with the same fields")
    p.add_argument("--resume", metavar="RUN_DIR", help="carry on a run to --steps/--epochs in total")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    from .training import Trainer

    given = {f: getattr(args, f) for f in _TRAIN_FIELDS if getattr(args, f) is not None}
    if "betas" in given:
        given["betas"] = tuple(given["betas"])
    if args.resume:
        allowed = {"steps", "epochs", "device", "lr_schedule", "lr_decay_steps"}
        extra = sorted(set(given) - allowed) + (["config"] if args.config else []) + \
            (["width"] if args.width is not None else [])
        if extra:
            raise GanforgeError(
                f"--resume continues a run with its own settings; only --steps, --epochs, --device and (to add a "
                f"decay) --lr-schedule with --lr-decay-steps may be given "
                f"(got {', '.join('--' + e.replace('_', '-') for e in extra)})")
        trainer = Trainer.resume(args.resume, steps=given.get("steps"), epochs=given.get("epochs"),
                                 device=given.get("device"), progress=False if args.no_progress else None,
                                 lr_schedule=given.get("lr_schedule"), lr_decay_steps=given.get("lr_decay_steps"))
    else:
        data = read_config_file(args.config) if args.config else {}
        cfg = TrainConfig.from_dict(data, source=args.config or "config")
        for key, value in given.items():
            setattr(cfg, key, value)
        if args.width is not None:
            cfg.extra["width"] = args.width
        if "steps" in given:
            cfg.epochs = None
        if "epochs" in given:
            cfg.steps = None
        if args.no_progress:
            cfg.progress = False
        trainer = Trainer(cfg)
    trainer.train()
    # Under torchrun: every process reaches the end, then the process group is torn down here rather than
    # by static destructors at exit, where gloo's threads could abort a process (SIGABRT) now and then.
    barrier(trainer.ctx)
    shutdown(trainer.ctx)
    return 0


def add_sample_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sample", help="draw images from a trained run",
                       description="Write samples as a PNG grid (default), one PNG per image, or an NPZ "
                                   "of uint8 HxWxC images.")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--n", type=positive_int, help="number of images (default 64)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--class", dest="klass", metavar="CLASS",
                       help="conditional runs: every image of this class (an index, or a class name)")
    which.add_argument("--per-class", type=positive_int, metavar="K",
                       help="conditional runs: K images of each class, one grid row per class")
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument("--out", help="FILE.png for a grid, or a folder with --format png|npz "
                                 "(default RUN_DIR/samples/seed-S-n-N.png)")
    p.add_argument("--format", choices=["grid", "png", "npz"], help="grid (default), png (one file each), npz")
    p.add_argument("--checkpoint", default="last", help="checkpoint name (default last)")
    p.add_argument("--device", help="auto, cpu, cuda")
    p.add_argument("--nrow", type=positive_int, help="images per grid row (default: square)")
    p.set_defaults(func=cmd_sample)


def cmd_sample(args: argparse.Namespace) -> int:
    from .images import save_each, save_grid, save_npz
    from .run import load_run

    run = load_run(args.run_dir, checkpoint=args.checkpoint, device=args.device)
    fmt = args.format or ("npz" if args.out and args.out.endswith(".npz") else "grid")
    n, labels, nrow, tag = _sample_request(run, args)
    images = run.generate(n, seed=args.seed, labels=labels)
    if fmt == "grid":
        out = Path(args.out) if args.out else run.path / "samples" / f"seed-{args.seed}-{tag}.png"
        if out.suffix.lower() != ".png":
            raise GanforgeError(f"a grid is written as a .png file; got --out {out}")
        save_grid(images, out, nrow=nrow)
        print(f"wrote a grid of {n} images to {out}")
    elif fmt == "png":
        out = Path(args.out) if args.out else run.path / "samples" / f"seed-{args.seed}"
        paths = save_each(images, out)
        print(f"wrote {len(paths)} PNG files to {out}/")
    else:
        out = Path(args.out) if args.out else run.path / "samples" / f"seed-{args.seed}-{tag}.npz"
        if out.suffix.lower() != ".npz":
            out = out / f"seed-{args.seed}-{tag}.npz"
        save_npz(images, out, labels=labels)
        print(f"wrote {n} images (uint8, {images.shape[2]}x{images.shape[3]}x{images.shape[1]}) to {out}")
    return 0


def _sample_request(run, args: argparse.Namespace):
    """(n, labels or None, images per grid row, file-name tag) for --n, --class and --per-class."""
    import torch

    if args.per_class is not None and args.n is not None:
        raise GanforgeError(f"give --n or --per-class, not both (--per-class {args.per_class} makes "
                            f"{args.per_class} images of each class)")
    if args.klass is None and args.per_class is None:
        n = args.n or 64
        return n, None, args.nrow, f"n-{n}"
    if run.num_classes is None:
        flag = "--class" if args.klass is not None else "--per-class"
        raise GanforgeError(f"{flag}: run '{run.path}' is unconditional (trained without --conditional); "
                            "it has no classes to choose from")
    if args.per_class is not None:
        labels = torch.arange(run.num_classes).repeat_interleave(args.per_class)
        return len(labels), labels, args.nrow or args.per_class, f"per-class-{args.per_class}"
    index, n = run.class_index(args.klass), args.n or 64
    return n, torch.full((n,), index, dtype=torch.int64), args.nrow, f"n-{n}-class-{index}"


def cmd_presets(args: argparse.Namespace) -> int:
    from .presets import PRESETS

    width = max(len(n) for n in PRESETS)
    for name, p in PRESETS.items():
        c, h, w = p.image_shape
        quality = f" [measured: {p.quality}]" if p.quality else ""
        print(f"{name:<{width}}  {h}x{w}x{c}  {p.description}{quality}")
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    from .data import describe_datasets

    rows = describe_datasets()
    width = max(len(n) for n, _ in rows)
    for name, desc in rows:
        print(f"{name:<{width}}  {desc}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="ganforge", description="Train, sample and measure GANs.")
    parser.add_argument("--version", action="version", version=f"ganforge {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_train_parser(sub)
    add_sample_parser(sub)
    sub.add_parser("presets", help="list the model presets").set_defaults(func=cmd_presets)
    sub.add_parser("datasets", help="list the datasets").set_defaults(func=cmd_datasets)
    add_eval_parser(sub)
    add_evaluator_parser(sub)
    add_serve_parser(sub)
    add_report_parser(sub)
    add_export_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except GanforgeError as e:
        print(f"ganforge: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except OSError as e:  # the file system said no somewhere we did not expect: still one line
        print(f"ganforge: error: {e.strerror or e}" + (f": '{e.filename}'" if e.filename else ""), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
