"""Recycling runs (paper Section 4, Appendix E; SPEC §7).

A recycling run trains a model with a second input channel: a *template* map, the
previous run's prediction for that example, replaced by a *refined* map (density
modification of the prediction) with probability ``p_refined`` during training and
always, where one exists, at evaluation.

Schemes
-------
``original``
    ``p_refined = 0.7``; no template noise; weights trained from scratch.
``modified``
    ``p_refined = 1/6``; Gaussian noise on the template channel only (training);
    weights transferred from the previous run with slight Gaussian noise; in the
    first convolution only the Patterson half is transferred (the template half
    keeps its fresh initialisation) when the previous model had one input channel.

Refined maps are post-processed as in Appendix E (:func:`postprocess_refined`).
Refined maps can come from any engine as ``<id>.npy`` (physical units), or from
crysbench's open density-modification engine with :func:`refine_templates`.

Size: over 400 lines; the template source and the refined-map post-processing could
move to a module of their own (noted in issue 18).
"""

from __future__ import annotations

import dataclasses
import json
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path

import gemmi
import numpy as np
import torch

from baselines.reccrysformer.model import ModelConfig, RecCrysFormer

__all__ = [
    "SCHEMES",
    "postprocess_refined",
    "blur_map",
    "TemplateSource",
    "transfer_weights",
    "refine_templates",
    "RecycleConfig",
    "recycle",
]

#: Scheme name -> (probability of a refined template, template noise?, weight transfer?).
SCHEMES = {"original": (0.7, False, False), "modified": (1 / 6, True, True)}


def blur_map(rho: np.ndarray, cell: gemmi.UnitCell | tuple, b: float) -> np.ndarray:
    """Apply a crystallographic B factor ``exp(-B s²/4)`` (s = 1/d) to a periodic map."""
    if not isinstance(cell, gemmi.UnitCell):
        cell = gemmi.UnitCell(*cell)
    shape = rho.shape
    hkl = np.meshgrid(
        np.fft.fftfreq(shape[0], 1 / shape[0]), np.fft.fftfreq(shape[1], 1 / shape[1]),
        np.fft.rfftfreq(shape[2], 1 / shape[2]), indexing="ij",
    )  # fmt: skip
    frac = np.array(cell.frac.mat.tolist())
    s = np.stack([h.ravel() for h in hkl], axis=1) @ frac
    s2 = np.einsum("ij,ij->i", s, s).reshape(hkl[0].shape)
    f = np.fft.rfftn(rho.astype(np.float64))
    return np.fft.irfftn(f * np.exp(-b * s2 / 4.0), s=shape, axes=(0, 1, 2)).astype(np.float32)


def postprocess_refined(
    rho: np.ndarray,
    cell: gemmi.UnitCell | tuple,
    offset: float = 1.23,
    blur_b: float = 25.0,
    sigma: float = 1.25,
    weight: float = 0.95,
    scale: float | None = None,
) -> np.ndarray:
    """Flatten the solvent of a refined map as in the paper's Appendix E.

    The map is put in RMS units about its mean (as SHELXE writes its maps). Two masks:
    the voxels where that map is positive, and the voxels where the map blurred with
    B = ``blur_b`` exceeds its mean by ``sigma`` RMS deviations. The map is shifted by
    ``+offset``, multiplied by both masks, shifted back, and mixed as
    ``weight·modified + (1 − weight)·raw``.

    With ``scale`` (the training-split density constant, what unrefined templates and
    targets are divided by) the result goes back to e/Å³ (times the input's RMS), loses
    its mean (no F000, like the targets) and is divided by ``scale``: refined and
    unrefined templates then share one scale, so the template channel does not tell
    the network which kind it holds. Without ``scale`` it is min-max scaled to [-1, 1]
    (the paper's literal last step, where ~90 % of the voxels of a fragment map end at
    −1).

    Returns
    -------
    ndarray, float32, same shape as ``rho``
    """
    raw = np.asarray(rho, dtype=np.float64)
    rms = float(raw.std())
    if rms <= 0:
        return np.zeros(raw.shape, dtype=np.float32)
    z = (raw - raw.mean()) / rms
    m1 = z > 0
    blurred = blur_map(z, cell, blur_b).astype(np.float64)
    m2 = blurred > blurred.mean() + sigma * blurred.std()
    modified = (z + offset) * m1 * m2 - offset
    mixed = weight * modified + (1 - weight) * z
    if scale is not None:
        phys = mixed * rms
        return ((phys - phys.mean()) / float(scale)).astype(np.float32)
    lo, hi = float(mixed.min()), float(mixed.max())
    if hi - lo <= 0:
        return np.zeros(raw.shape, dtype=np.float32)
    return (2 * (mixed - lo) / (hi - lo) - 1).astype(np.float32)


class TemplateSource:
    """Template maps for a recycling model, as a ``template_fn`` for training.

    Parameters
    ----------
    templates : folder or mapping
        ``<id>.npy`` previous predictions (physical units, e/Å³).
    density_scale : float
        Divides templates (the training-split density scale constant).
    refined : folder or mapping, optional
        ``<id>.npy`` refined maps (physical units); post-processed with
        :func:`postprocess_refined` (needs ``cell_of``) unless ``postprocess=False``,
        and divided by ``density_scale`` like the templates either way.
    p_refined : float
        Training: probability that an available refined map replaces the template.
        Evaluation always uses the refined map when one exists.
    noise : float
        Training: std of Gaussian noise added to the template channel, relative to
        each template's RMS (0: none).
    seed : int
        Draws depend on (seed, epoch, example id) only, so resumed runs repeat them.
    cell_of : callable, optional
        ``cell_of(id) -> (a, b, c, α, β, γ)``.
    """

    def __init__(
        self,
        templates: str | Path | Mapping,
        density_scale: float,
        refined: str | Path | Mapping | None = None,
        p_refined: float = 0.0,
        noise: float = 0.0,
        seed: int = 0,
        cell_of: Callable[[str], tuple] | None = None,
        postprocess: bool = True,
    ) -> None:
        self.templates = templates
        self.scale = float(density_scale)
        self.refined = refined
        self.p_refined = p_refined
        self.noise = noise
        self.seed = seed
        self.cell_of = cell_of
        self.postprocess = postprocess
        self._cache: dict[tuple[str, str], np.ndarray | None] = {}

    @staticmethod
    def _read(src, example_id: str) -> np.ndarray | None:
        if src is None:
            return None
        if isinstance(src, Mapping):
            arr = src.get(example_id)
            return None if arr is None else np.asarray(arr, dtype=np.float32)
        p = Path(src) / f"{example_id}.npy"
        return np.load(p).astype(np.float32) if p.exists() else None

    def template(self, example_id: str) -> np.ndarray:
        """The normalised previous prediction of one example."""
        key = ("t", example_id)
        if key not in self._cache:
            arr = self._read(self.templates, example_id)
            if arr is None:
                raise FileNotFoundError(f"no template for {example_id} in {self.templates}")
            self._cache[key] = arr / np.float32(self.scale)
        return self._cache[key]  # type: ignore[return-value]

    def refined_map(self, example_id: str) -> np.ndarray | None:
        """The post-processed refined map of one example, or None."""
        key = ("r", example_id)
        if key not in self._cache:
            arr = self._read(self.refined, example_id)
            if arr is not None and self.postprocess:
                if self.cell_of is None:
                    raise ValueError("post-processing refined maps needs cell_of")
                arr = postprocess_refined(arr, self.cell_of(example_id), scale=self.scale)
            elif arr is not None:
                arr = arr / np.float32(self.scale)
            self._cache[key] = arr
        return self._cache[key]

    def __call__(self, batch: dict, epoch: int, training: bool) -> torch.Tensor:
        """(B, 1, nu, nv, nw) templates for a batch, on the batch's device."""
        maps = []
        for example_id in batch["id"]:
            rng = np.random.default_rng([self.seed, epoch, zlib.crc32(example_id.encode())])
            t = self.template(example_id)
            r = self.refined_map(example_id) if self.refined is not None else None
            if r is not None and (not training or rng.random() < self.p_refined):
                t = r
            if training and self.noise > 0:
                rms = float(np.sqrt(np.mean(t.astype(np.float64) ** 2))) or 1.0
                t = t + (self.noise * rms) * rng.standard_normal(t.shape).astype(np.float32)
            maps.append(t)
        out = torch.from_numpy(np.stack(maps)).unsqueeze(1)
        return out.to(batch["patterson"].device, batch["patterson"].dtype)

    def fn(self, train: bool = True) -> Callable[[dict, int, bool], torch.Tensor]:
        """A ``template_fn``; with ``train=False`` never draws (evaluation templates)."""
        if train:
            return self
        return lambda batch, epoch, training: self(batch, epoch, False)


def transfer_weights(
    prev_state: Mapping[str, torch.Tensor],
    new_model: RecCrysFormer,
    noise: float = 0.01,
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """Initial state of a recycling model from the previous run's weights.

    Every parameter of the same shape is copied with Gaussian noise of std
    ``noise × std(parameter)`` added; buffers (BatchNorm statistics) are copied as
    they are. The first convolution of a 1-channel previous model is transferred
    for its Patterson half only; the template half keeps ``new_model``'s fresh init.

    Returns
    -------
    dict
        A state dict for ``new_model``.
    """
    g = torch.Generator().manual_seed(seed)
    new = {k: v.detach().clone() for k, v in new_model.state_dict().items()}
    params = dict(new_model.named_parameters())

    def noisy(t: torch.Tensor) -> torch.Tensor:
        if not t.is_floating_point() or t.numel() < 2 or noise <= 0:
            return t.clone()
        std = float(t.float().std())
        return t + noise * std * torch.randn(t.shape, generator=g, dtype=t.dtype)

    for k, v in prev_state.items():
        if k not in new:
            continue
        if new[k].shape == v.shape:
            new[k] = noisy(v) if k in params else v.clone()
        elif k == "stem.weight" and v.shape[1] < new[k].shape[1]:
            new[k][:, : v.shape[1]] = noisy(v)
    return new


def _refine_one(ex, template: np.ndarray, engine) -> tuple[np.ndarray | None, float]:
    """Density modification of one template; the refined map if the engine's rule passes."""
    from crysbench.maps import density_map
    from crysbench.metrics import map_to_sf

    F_pred = map_to_sf(template, ex.cell, ex.hkl)
    F_ref, info = engine.modify(ex, F_pred)
    # The evaluator's success rule; the map written stays in the template's own frame.
    verdict = engine.judge(ex, F_pred, F_ref, info["cycles"])
    wmpe = float(verdict["final_phase_error_weighted"])
    if not verdict["refined"]:
        return None, wmpe
    return density_map(ex.hkl, F_ref, ex.cell, ex.grid_shape).astype(np.float32), wmpe


def refine_templates(
    ds, templates: str | Path | Mapping, out: str | Path,
    engine_settings: dict | None = None, n_jobs: int = 1, progress: bool | None = None,
) -> list[str]:  # fmt: skip
    """Refine templates with crysbench's open density-modification engine.

    For each example of a store split ``ds`` (needs ``ds.ids`` and ``ds.example(id)``),
    the template's phases and the true amplitudes go through
    :func:`crysbench.refine.builtin.density_modification` once; when the engine counts
    the example as solved (its calibrated rule, the same as ``crysbench evaluate``),
    the refined map, in the template's own frame, is written as ``<out>/<id>.npy``.
    Every outcome is appended to ``<out>/refine.jsonl``, so an interrupted run resumes
    where it stopped. Like the paper's SHELXE step, this is a training-data step: the
    success rule looks at the truth, so refined maps of *test* examples are not honest
    evaluation inputs.

    Parameters
    ----------
    ds
        A split (``crysbench.load_split``).
    templates : folder or mapping
        ``<id>.npy`` predictions (physical units, e/Å³).
    out : path
        Folder for the refined maps.
    engine_settings : dict, optional
        :class:`crysbench.refine.builtin.BuiltinEngine` arguments.
    n_jobs : int
        Worker processes (joblib).
    progress : bool, optional
        Progress bar (default: on a terminal).

    Returns
    -------
    list of str
        Ids of the refined examples (including those refined by an earlier run).
    """
    from joblib import Parallel, delayed
    from tqdm.auto import tqdm

    from crysbench.refine.builtin import BuiltinEngine

    engine = BuiltinEngine(**(engine_settings or {}))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / "refine.jsonl"
    seen: dict[str, bool] = {}
    if log_path.exists():
        for line in log_path.read_text().splitlines():
            if line.strip():
                rec = json.loads(line)
                seen[rec["id"]] = bool(rec["refined"])
    todo = [i for i in ds.ids if i not in seen]

    def jobs():
        for example_id in todo:
            t = TemplateSource._read(templates, example_id)
            if t is not None:
                yield example_id, delayed(_refine_one)(ds.example(example_id), t, engine)

    disable = (not progress) if progress is not None else None
    bar = tqdm(total=len(todo), desc="refine", disable=disable)
    chunk = max(1, 8 * max(n_jobs, 1))
    pending = jobs()
    with Parallel(n_jobs=n_jobs) as par, open(log_path, "a") as log:
        while True:
            batch = [j for _, j in zip(range(chunk), pending)]
            if not batch:
                break
            results = par(job for _, job in batch)
            for (example_id, _), (rho, wmpe) in zip(batch, results):
                if rho is not None:
                    tmp = out / f".{example_id}.npy"
                    np.save(tmp, rho)
                    tmp.replace(out / f"{example_id}.npy")
                log.write(json.dumps({"id": example_id, "refined": rho is not None,
                                      "wmpe": round(wmpe, 3)}) + "\n")  # fmt: skip
                seen[example_id] = rho is not None
            log.flush()
            bar.update(len(batch))
    bar.close()
    return [i for i in ds.ids if seen.get(i)]


@dataclasses.dataclass
class RecycleConfig:
    """Settings of one recycling run (the ``recycle`` command's options).

    Attributes
    ----------
    init : path
        Previous run folder (weights, config, scale constants).
    out : path
        New run folder.
    scheme : {"modified", "original"}
        :data:`SCHEMES`: refined-map probability, template noise, weight transfer.
    templates, refined : path, optional
        Folders of ``<id>.npy`` templates and refined maps (e/Å³); templates default to
        the ``init`` model's predictions.
    config : str, optional
        Training config overriding the ``init`` run's ``[train]`` table.
    epochs : int, optional
        Default: the config's ``recycle_epochs`` (paper: 80).
    seed : int, optional
    noise : float
        Modified scheme: template noise std relative to the template's RMS.
    time_limit : float, optional
        Stop after the epoch that passes this many seconds.
    device : str
    amp : bool, optional
        bf16 autocast (default: on for CUDA).
    compile : bool
    progress : bool, optional

    Examples
    --------
    >>> RecycleConfig("runs/tiny", "runs/tiny-rec", epochs=6).scheme
    'modified'
    """

    init: str | Path
    out: str | Path
    scheme: str = "modified"
    templates: str | Path | None = None
    refined: str | Path | None = None
    config: str | None = None
    epochs: int | None = None
    seed: int | None = None
    noise: float = 0.05
    time_limit: float | None = None
    device: str = "auto"
    amp: bool | None = None
    compile: bool = False
    progress: bool | None = None


def recycle(rc: RecycleConfig, train_ds, valid_ds, test_ds=None) -> None:
    """A recycling run: templates, weight transfer, training (recycling lrs).

    The run lasts ``rc.epochs`` or the config's ``recycle_epochs`` (paper: 80), never the
    initial run's epoch count.
    """
    from baselines.reccrysformer.model import load_config
    from baselines.reccrysformer.predict import predict
    from baselines.reccrysformer.train import TrainConfig, load_run, pick_device, train

    dev = pick_device(rc.device)
    prev, meta = load_run(rc.init, "cpu")
    scale = float(meta["scales"]["density"])
    out = Path(rc.out)
    tc = TrainConfig(meta["train"])
    if rc.config:
        tc.update(load_config(rc.config).get("train", {}))
    tc["epochs"] = int(rc.epochs if rc.epochs is not None else tc["recycle_epochs"])
    if rc.seed is not None:
        tc["seed"] = rc.seed
    templates = rc.templates
    if templates is None:
        if prev.cfg.in_channels != 1:
            raise ValueError("--init is a recycling model: give --templates explicitly")
        templates = out / "templates"
        for ds in (train_ds, valid_ds, test_ds):
            if ds is not None:
                predict(prev, ds, templates, scale, dev)
        print(f"templates from {rc.init} written to {templates}", flush=True)
    p_refined, noisy, transfer = SCHEMES[rc.scheme]

    def cell_of(example_id: str) -> tuple:
        for ds in (train_ds, valid_ds, test_ds):
            if ds is None:
                continue
            try:
                return ds.cell(example_id)
            except KeyError:
                continue
        raise KeyError(example_id)

    refined = None if rc.refined is None else str(rc.refined)
    src = TemplateSource(templates, scale, refined=rc.refined, p_refined=p_refined,
                         noise=rc.noise if noisy else 0.0, seed=int(tc["seed"]),
                         cell_of=cell_of)  # fmt: skip
    cfg = ModelConfig.from_dict({**prev.cfg.to_dict(), "in_channels": 2})
    init_state = None
    if transfer:
        torch.manual_seed(int(tc["seed"]))
        init_state = transfer_weights(prev.state_dict(), RecCrysFormer(cfg), seed=int(tc["seed"]))
    train(
        cfg, tc, train_ds, valid_ds, out, test_ds=test_ds, device=dev, time_limit=rc.time_limit,
        amp=rc.amp, compile=rc.compile, template_fn=src,
        init_state=init_state, recycling=True,
        progress=rc.progress, log=lambda s: print(s, flush=True),
        extra_meta={"recycling": {"scheme": rc.scheme, "init": str(rc.init),
                                  "templates": str(templates), "refined": refined,
                                  "p_refined": p_refined, "noise": src.noise}},
    )  # fmt: skip
    (out / "recycle.json").write_text(json.dumps({"scheme": rc.scheme, "init": str(rc.init)}))
