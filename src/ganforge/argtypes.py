"""argparse value types shared by every subcommand: a bad number is a one-line usage error."""

from __future__ import annotations

import argparse


def _number(text: str, kind: type, ok, wording: str):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {wording}, got {text!r}") from None
    if not ok(value):
        raise argparse.ArgumentTypeError(f"must be {wording}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    return _number(text, int, lambda v: v > 0, "a positive integer")


def non_negative_int(text: str) -> int:
    return _number(text, int, lambda v: v >= 0, "a non-negative integer")


def positive_float(text: str) -> float:
    return _number(text, float, lambda v: 0 < v < float("inf"), "a positive number")


def non_negative_float(text: str) -> float:
    return _number(text, float, lambda v: 0 <= v < float("inf"), "a non-negative number")
