"""Small plotting helpers shared by the notebooks."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np


def plot_traces(traces: dict, *, target=None, target_label="target", xlabel="training step", ylabel="value",
                title=None, ax=None):
    """Plot several 1-D sequences against their index, with an optional target line.

    Args:
        traces: label -> sequence of values (or ``(steps, values)`` pair).
        target: draw a dashed horizontal line at this value.
        target_label: the legend's name for that line (followed by its value), e.g.
            ``"population mean"`` or ``"re-estimated"``: use the prose's word for it.
    Returns:
        The matplotlib Axes.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 3.6))
    for label, values in traces.items():
        if isinstance(values, tuple):
            ax.plot(*values, label=label)
        else:
            ax.plot(np.arange(1, len(values) + 1), values, label=label)
    if target is not None:
        ax.axhline(target, color="gray", linestyle="--", linewidth=1, label=f"{target_label} {target:g}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend(frameon=False)
    ax.grid(alpha=0.3)
    return ax


def histograms(panels: dict, *, bins=20, title=None):
    """One histogram per panel, side by side. ``panels``: title -> 1-D values."""
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 2.8), constrained_layout=True)
    for ax, (label, values) in zip(np.atleast_1d(axes), panels.items(), strict=True):
        values = np.asarray(values).ravel()
        ax.hist(values, bins=bins, color="#4C72B0", alpha=0.85)
        ax.set_title(f"{label}\nmean {values.mean():+.3f}  std {values.std():.3f}", fontsize=9)
        ax.tick_params(labelsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def caption(text: str) -> None:
    """Print a one-line description of the figure just shown (for screen-reader users).

    Every plotting cell calls it right after ``plt.show()``, so the text sits under the
    figure in the notebook and in an executed copy.
    """
    print(f"Figure: {text}")
