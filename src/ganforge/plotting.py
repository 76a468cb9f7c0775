"""The loss-curve plot written at the end of training."""

from __future__ import annotations

import io
from pathlib import Path

from .fileio import atomic_write_bytes
from .run.folder import read_log


def plot_losses(log_path: str | Path, out_path: str | Path) -> None:
    """Plot G and D losses, and D's mean outputs on real and fake images, against steps."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    all_recs = read_log(log_path)
    recs = [r for r in all_recs if "loss_g" in r]
    evals = [r for r in all_recs if "metric" in r]
    if not recs:
        return
    steps = [r["step"] for r in recs]
    rows = 3 if evals else 2
    fig, axes = plt.subplots(rows, 1, figsize=(8, 3 * rows), sharex=True)
    ax1, ax2 = axes[0], axes[1]
    ax1.plot(steps, [r["loss_g"] for r in recs], label="G loss")
    ax1.plot(steps, [r["loss_d"] for r in recs], label="D loss")
    ax1.set_ylabel("loss")
    ax1.legend()
    ax1.grid(alpha=0.3)
    ax2.plot(steps, [r["d_real"] for r in recs], label="D(x)")
    ax2.plot(steps, [r["d_fake"] for r in recs], label="D(G(z))")
    if evals:
        key = next(k for k in evals[-1] if k not in ("step", "time", "metric"))
        axes[2].plot([r["step"] for r in evals], [r[key] for r in evals], "o-", label=f"{evals[-1]['metric']}: {key}")
        axes[2].set_ylabel(key)
        axes[2].legend()
        axes[2].grid(alpha=0.3)
    axes[-1].set_xlabel("step")
    ax2.set_ylabel("discriminator output")
    ax2.legend()
    ax2.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    atomic_write_bytes(out_path, buf.getvalue())
