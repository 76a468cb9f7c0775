"""CLI glue: ``ganforge eval RUN_DIR ...`` and ``ganforge evaluator train --dataset NAME``.

The main parser calls ``add_eval_parser(subparsers)`` / ``add_evaluator_parser(subparsers)``; each
subcommand sets ``func``, and GanforgeError becomes a one-line message there.
"""

from __future__ import annotations

import argparse

from ganforge.argtypes import positive_int as _positive_int
from ganforge.errors import GanforgeError


def _device(name: str) -> str | None:
    if name == "auto":
        return None
    if name == "cpu" or name.startswith("cuda"):
        return name
    raise GanforgeError(f"--device {name}: expected auto, cpu, cuda or cuda:N")


def add_eval_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from ganforge.metrics.registry import METRICS

    names = ", ".join(METRICS)
    p = subparsers.add_parser(
        "eval",
        help="measure a trained run (FID, KID, IS, precision/recall, domain metrics)",
        description="Sample a run once and compute metrics against its dataset; results are printed with "
        "their protocol (samples, real images, network and weights, resize, library) and merged into "
        "RUN_DIR/metrics.json. Default: the domain metrics for MNIST-family data, plus FID/KID/PR (and IS) "
        "when Inception weights are found; folder:PATH runs get FID/KID/PR against the folder and need the "
        f"weights. Metrics: {names}.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--metrics", help=f"comma-separated names ({names}); default: see above")
    p.add_argument("--n", type=_positive_int,
                   help="generated samples (default 10000; 26000 for stacked-mnist)")
    p.add_argument("--n-inception", type=_positive_int,
                   help="samples for the Inception metrics (default: --n on GPU, at most 1000 on CPU)")
    p.add_argument("--split", choices=["test", "train"], default="test", help="real split to compare with")
    p.add_argument("--batch-size", type=_positive_int, help="batch size for sampling and feature extraction")
    p.add_argument("--inception-weights", metavar="FILE",
                   help="Inception-v3 weights (else $GANFORGE_INCEPTION_WEIGHTS, torch-hub cache, download)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    p.add_argument("--checkpoint", default="last", help="checkpoint name (default last)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.add_argument("--classes", choices=["real", "uniform"], default="real",
                   help="class-conditional runs: sample the classes in the real split's proportions (default) "
                   "or in equal numbers")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_eval)
    return p


def cmd_eval(args: argparse.Namespace) -> int:
    from ganforge.metrics.evaluate import evaluate_run
    from ganforge.metrics.registry import parse_metric_names
    from ganforge.run import load_run

    metrics = parse_metric_names(args.metrics) if args.metrics else None  # bad names fail before loading
    device = _device(args.device)
    run = load_run(args.run_dir, checkpoint=args.checkpoint, device=device)
    evaluate_run(run, metrics, n=args.n, split=args.split, batch_size=args.batch_size,
                 inception_weights=args.inception_weights, n_inception=args.n_inception, seed=args.seed,
                 classes=args.classes, device=device, progress=not args.no_progress)
    return 0


def add_evaluator_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from ganforge.metrics.evaluator import DEFAULT_EPOCHS, TRAINABLE

    p = subparsers.add_parser("evaluator", help="train the classifiers behind the domain metrics")
    sub = p.add_subparsers(dest="evaluator_command", metavar="COMMAND", required=True)
    t = sub.add_parser(
        "train",
        help="train (or retrain) the domain classifier for a dataset",
        description="Train the small CNN that the domain metrics use and store it in the user cache "
        "(safetensors + JSON sidecar). stacked-mnist and mnist-sample use the mnist evaluator.",
    )
    t.add_argument("--dataset", required=True, choices=list(TRAINABLE))
    t.add_argument("--data-dir", help="folder holding <dataset>/*.gz (else $GANFORGE_DATA_DIR)")
    t.add_argument("--epochs", type=_positive_int,
                   help=f"default {', '.join(f'{k} {v}' for k, v in DEFAULT_EPOCHS.items())}")
    t.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    t.add_argument("--no-progress", action="store_true", help="no progress bars")
    t.set_defaults(func=cmd_evaluator_train)
    return p


def cmd_evaluator_train(args: argparse.Namespace) -> int:
    import torch

    from ganforge.metrics.evaluator import train_evaluator

    device = _device(args.device) or ("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise GanforgeError(f"--device {args.device}: no CUDA GPU is available; use --device cpu")
    train_evaluator(args.dataset, data_dir=args.data_dir, epochs=args.epochs, device=device,
                    progress=not args.no_progress)
    return 0
