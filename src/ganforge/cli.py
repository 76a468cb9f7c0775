"""The ``ganforge`` command. Each subcommand is a small function; errors meant for the user are
``GanforgeError`` and become one line on stderr with exit status 2."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .argtypes import OneLineParser, non_negative_int, positive_int
from .config import Check, TrainConfig, read_config_file, specs
from .config import spec as field_spec
from .errors import GanforgeError
from .export import add_export_parser
from .metrics.commands import add_eval_parser, add_evaluator_parser
from .report import add_report_parser
from .version import __version__
from .web.server import add_serve_parser

# Flags of `train` that are not config fields.
_NOT_FIELDS = ("config", "resume", "no_progress", "width")


def add_train_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a GAN (default: the fast DCGAN on MNIST)",
                       description="Train a preset on a dataset. Flags override the config file, which "
                                   "overrides the preset's defaults.")
    length = p.add_mutually_exclusive_group()
    for name, spec in specs():
        if not spec.flag:
            continue
        flag = "--" + name.replace("_", "-")
        target = length if name in ("steps", "epochs") else p
        helptext = spec.help + (f" ({', '.join(spec.choices)})" if spec.choices and len(spec.choices) > 8 else "")
        if spec.kind is bool:
            target.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=helptext)
            continue
        kwargs = {"help": helptext, "metavar": spec.metavar}
        if spec.choices and len(spec.choices) <= 8:
            kwargs["choices"] = spec.choices
        if spec.kind is tuple:
            kwargs.update(type=float, nargs=2)
        elif isinstance(spec.check, Check) and spec.check.argtype is not None:
            kwargs["type"] = spec.check.argtype
        elif spec.kind in (int, float):
            kwargs["type"] = spec.kind
        target.add_argument(flag, **{k: v for k, v in kwargs.items() if v is not None})
    p.add_argument("--width", type=positive_int, metavar="N",
                   help="channel width of the lean DCGAN and ResNet presets (extra.width; default 32 or 64)")
    p.add_argument("--config", help="TOML or YAML file with the same fields")
    p.add_argument("--resume", metavar="RUN_DIR", help="carry on a run to --steps/--epochs in total")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)


def _given_flags(args: argparse.Namespace) -> dict:
    given = {name: getattr(args, name) for name, spec in specs() if spec.flag and getattr(args, name) is not None}
    if "betas" in given:
        given["betas"] = tuple(given["betas"])
    return given


def cmd_train(args: argparse.Namespace) -> int:
    from .training import Trainer
    from .training.distributed import barrier, shutdown

    given = _given_flags(args)
    if args.resume:
        extra = sorted(name for name in given if not field_spec(name).resumable)
        extra += (["config"] if args.config else []) + (["width"] if args.width is not None else [])
        if extra:
            raise GanforgeError(
                f"--resume continues a run with its own settings; only --steps, --epochs, --device and (to add a "
                f"decay) --lr-schedule with --lr-decay-steps may be given "
                f"(got {', '.join('--' + e.replace('_', '-') for e in extra)})")
        trainer = Trainer.resume(args.resume, steps=given.get("steps"), epochs=given.get("epochs"),
                                 device=given.get("device"), progress=False if args.no_progress else None,
                                 lr_schedule=given.get("lr_schedule"), lr_decay_steps=given.get("lr_decay_steps"))
    else:
        values = read_config_file(args.config) if args.config else {}
        request = TrainConfig.from_dict(values, source=args.config or "config").given()
        if "steps" in given or "epochs" in given:  # a length on the command line replaces the file's
            request.pop("steps", None)
            request.pop("epochs", None)
        request.update(given)
        if args.width is not None:
            request["extra"] = {**(request.get("extra") or {}), "width": args.width}
        if args.no_progress:
            request["progress"] = False
        trainer = Trainer(TrainConfig.from_dict(request, source="the command line"))
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
        out = Path(args.out) if args.out else run.outputs_dir / "samples" / f"seed-{args.seed}-{tag}.png"
        if out.suffix.lower() != ".png":
            raise GanforgeError(f"a grid is written as a .png file; got --out {out}")
        save_grid(images, out, nrow=nrow)
        print(f"wrote a grid of {n} images to {out}")
    elif fmt == "png":
        out = Path(args.out) if args.out else run.outputs_dir / "samples" / f"seed-{args.seed}"
        paths = save_each(images, out)
        print(f"wrote {len(paths)} PNG files to {out}/")
    else:
        out = Path(args.out) if args.out else run.outputs_dir / "samples" / f"seed-{args.seed}-{tag}.npz"
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
    from .preset_catalog import describe_preset, presets_table

    print(describe_preset(args.name) if args.name else presets_table())
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
    presets = sub.add_parser("presets", help="list the model presets, or describe one",
                             description="Without NAME, one line per preset; with NAME, its recipe, what it was "
                                         "measured to reach (budget, machine, command) and the layers of G and D.")
    presets.add_argument("name", nargs="?", metavar="NAME", help="a preset to describe in full")
    presets.set_defaults(func=cmd_presets)
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
