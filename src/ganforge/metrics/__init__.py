"""Evaluation of trained GANs: standard Inception metrics (via torch-fidelity) and cheap domain metrics.

>>> from ganforge.run import load_run
>>> from ganforge.metrics import evaluate_run
>>> evaluate_run(load_run("runs/my-run"), ["domain-fid", "class-kl"], n=10000)

A metric is one function under ``registry.register_metric`` in a module listed in ``catalog``; a feature kind
(the network a metric reads) is one builder under ``registry.register_features``. ``METRICS`` and
``registry.FEATURES`` hold them, each with what it needs, when it applies and whether lower is better.
"""

import ganforge.metrics.catalog  # noqa: F401 - first: fills the registries the modules below read
from ganforge.metrics.evaluate import Evaluation, evaluate_run, select_metrics
from ganforge.metrics.frechet import frechet_distance
from ganforge.metrics.registry import FEATURES, METRICS, Metric, MetricInputs, parse_metric_names, register_metric
from ganforge.metrics.training import TrainingEvaluator, make_training_evaluator

__all__ = [
    "FEATURES",
    "METRICS",
    "Evaluation",
    "Metric",
    "MetricInputs",
    "TrainingEvaluator",
    "evaluate_run",
    "frechet_distance",
    "make_training_evaluator",
    "parse_metric_names",
    "register_metric",
    "select_metrics",
]
