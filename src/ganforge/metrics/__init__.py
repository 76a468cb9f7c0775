"""Evaluation of trained GANs: standard Inception metrics (via torch-fidelity) and cheap domain metrics.

>>> from ganforge.run import load_run
>>> from ganforge.metrics import evaluate_run
>>> evaluate_run(load_run("runs/my-run"), ["domain-fid", "class-kl"], n=10000)

``registry.METRICS`` lists every metric with the features it needs and whether lower is better.
"""

from ganforge.metrics.evaluate import Evaluation, evaluate_run, select_metrics
from ganforge.metrics.frechet import frechet_distance
from ganforge.metrics.registry import METRICS, Metric, parse_metric_names
from ganforge.metrics.training import TrainingEvaluator, make_training_evaluator

__all__ = [
    "METRICS",
    "Evaluation",
    "Metric",
    "TrainingEvaluator",
    "evaluate_run",
    "frechet_distance",
    "make_training_evaluator",
    "parse_metric_names",
    "select_metrics",
]
