"""Interactive explorers. Each also renders a static figure when run headless."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from bncourse.plotting import caption, histograms


def bn_explorer(normalize, *, seed=0, batch_size=64):
    """Sliders for gamma, beta, epsilon and the batch's statistics, with histograms.

    Args:
        normalize: the learner's function ``normalize(x, gamma, beta, eps) -> y`` for
            a 1-D batch ``x`` of one feature.
        seed: seed for the sampled batch.
        batch_size: initial batch size.

    Returns:
        The ipywidgets control box (already displayed). The figure is displayed
        first as an ordinary output, so a headless run still shows it; moving a
        slider redraws it in place.
    """
    import ipywidgets as w
    from IPython.display import display

    wide = {"description_width": "initial"}  # the full label, never "feature m..."
    controls = {
        "n": w.IntSlider(value=batch_size, min=2, max=512, step=1, description="batch size", style=wide),
        "mu": w.FloatSlider(value=5.0, min=-20, max=20, step=0.5, description="feature mean", style=wide),
        "sigma": w.FloatLogSlider(value=10**0.3, base=10, min=-3, max=1.5, step=0.1, description="feature std", style=wide),
        "gamma": w.FloatSlider(value=1.0, min=-3, max=3, step=0.1, description="gamma", style=wide),
        "beta": w.FloatSlider(value=0.0, min=-5, max=5, step=0.1, description="beta", style=wide),
        "eps": w.FloatLogSlider(value=1e-3, base=10, min=-8, max=1, step=0.5, description="epsilon", style=wide),
    }

    def figure(n, mu, sigma, gamma, beta, eps):
        x = np.random.default_rng(seed).normal(mu, sigma, size=n)
        y = np.asarray(normalize(x, gamma, beta, eps))
        fig = histograms(
            {"input x": x, "output y": y},
            title=f"batch var {x.var():.4g}, epsilon {eps:.0e}: "
            f"expected output std |gamma|*sqrt(var/(var+eps)) = {abs(gamma) * np.sqrt(x.var() / (x.var() + eps)):.3f}",
        )
        plt.close(fig)
        return fig

    values = lambda: {k: c.value for k, c in controls.items()}  # noqa: E731
    handle = display(figure(**values()), display_id=True)

    def redraw(_change):
        handle.update(figure(**values()))

    for c in controls.values():
        c.observe(redraw, names="value")
    box = w.VBox([w.HBox(list(controls.values())[:3]), w.HBox(list(controls.values())[3:])])
    display(box)
    caption("two histograms, the sampled batch x (left) and your normalize(x) (right), each titled "
            "with its mean and std; the title above gives the output std that gamma and epsilon predict.")
    return box
