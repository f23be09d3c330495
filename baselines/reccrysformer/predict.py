"""Predictions in the evaluator's format: ``<out>/<id>.npy``, float32, physical units.

The network predicts densities divided by the training-split density scale (paper:
[-1, 1]); :func:`predict` multiplies by that constant so that ``crysbench evaluate``
scores the files directly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from baselines.reccrysformer.model import RecCrysFormer
from baselines.reccrysformer.train import TemplateFn, evaluate_model
from crysbench.names import id_path

__all__ = ["predict"]


def predict(
    model: RecCrysFormer,
    ds,
    out: str | Path,
    density_scale: float,
    device: str | torch.device = "cpu",
    batch_size: int = 40,
    template_fn: TemplateFn | None = None,
    amp: bool = False,
) -> dict:
    """Write one ``<id>.npy`` per example of ``ds`` and return the mean PC / amplitude PC.

    Parameters
    ----------
    model : RecCrysFormer
    ds
        A split (see :mod:`baselines.reccrysformer.data`).
    out : path
        Output folder (created).
    density_scale : float
        The training-split density scale constant (e/Å³ per normalised unit).
    template_fn : callable, optional
        Templates for recycling models.

    Returns
    -------
    dict
        ``pc``, ``amp_pc``, ``mse`` (normalised units) and ``n``, from the model's own
        Pearson code (the evaluator's numbers are the reference).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dev = torch.device(device)
    model = model.to(dev)

    def write(batch: dict, pred: torch.Tensor) -> None:
        arr = pred[:, 0].float().cpu().numpy() * np.float32(density_scale)
        for i, example_id in enumerate(batch["id"]):
            np.save(id_path(out, example_id, ".npy"), arr[i].astype(np.float32))

    return evaluate_model(model, ds, dev, batch_size, template_fn, amp, on_batch=write)
