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


class OneLineParser(argparse.ArgumentParser):
    """A usage error is one line naming the bad argument (not the whole usage block), exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see '{self.prog} -h')\n")
