"""Scoring predicted density maps against a store: the :class:`Evaluator` (SPEC §6).

In the mould of OGB's evaluators: made for one variant (``Evaluator("const-res@2",
store=...)``) or one store (``Evaluator(store)``; its variant must be a known one, never a
fallback), it says what it takes and gives (:attr:`~Evaluator.expected_input_format`,
:attr:`~Evaluator.expected_output_format`), checks predictions from headers alone
(:meth:`~Evaluator.validate`, :mod:`crysbench.validation`, the fingerprint by
:mod:`crysbench.fingerprints`), scores them into per-example rows
(:meth:`~Evaluator.evaluate`: workers, a resumable journal, :mod:`crysbench.scoring`) and
turns rows into the board numbers (:meth:`~Evaluator.aggregate`, :mod:`crysbench.rows`).
:meth:`~Evaluator.results` is a whole ``results.json`` (:mod:`crysbench.results`);
:func:`evaluate` (``crysbench.evaluate``) is its one-call form, used by the CLI and
``submit``.

Examples
--------
>>> ev = Evaluator("const-res@1")
>>> ev.variant.key, len(ev.shell_edges)
('const-res@1', 13)
>>> ev.aggregate([{"id": "a", "pearson": 0.5, "phase_error": 30.0}])["fraction_below_60"]
1.0
>>> Evaluator("no-such-variant")
Traceback (most recent call last):
...
KeyError: "unknown variant 'no-such-variant'; known variants: const-res, dipeptide, var-res"

Size: about 420 lines, a third of them the documentation of the OGB-style interface;
the scoring machinery itself is in :mod:`crysbench.scoring`, :mod:`crysbench.rows` and
:mod:`crysbench.results`.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from crysbench._version import __version__
from crysbench.predictions import INPUT_FORMAT, Predictions, load_predictions
from crysbench.results import SCHEMA_VERSION, provenance
from crysbench.rows import N_SHELLS, OUTPUT_FORMAT, aggregate, clean, shell_edges
from crysbench.validation import validate
from crysbench.variants import Variant, get_variant

__all__ = ["Evaluator", "evaluate"]


class Evaluator:
    """Scores predicted maps of one variant's store split (OGB-style evaluator).

    Parameters
    ----------
    variant_or_store : str, Variant or Store-like
        ``"const-res@2"`` (a known variant; ``store=`` is then needed to validate and
        score), or a store whose variant is a known one.
    store : Store-like or path, optional
        With a variant name: the store (or its path, opened pinned to that variant).
    split : str
        The split scored (boards rank ``"test"``).
    engine : str or engine object
        Refinement engine for the refinement rate: ``"builtin"``, ``"shelxe"``, ``"none"``
        (see :mod:`crysbench.refine`).
    engine_settings : dict, optional
        Keyword arguments of the engine.
    origin_search, hand_search : bool
        Align each prediction's origin / hand to the truth before the phase errors (the
        values before alignment are kept as ``*_unaligned``).

    Attributes
    ----------
    variant : crysbench.variants.Variant
        The recipe.
    store : Store-like or None
        The store scored against.
    shell_edges : numpy.ndarray
        The shared shells (1/d², Å⁻²) of the variant.

    Raises
    ------
    KeyError
        Unknown variant (of the name, or of the store).
    ValueError
        The store was built with another variant than the one named.

    Examples
    --------
    >>> print(Evaluator("const-res@1").expected_input_format.splitlines()[0])
    ==== Expected input format of Evaluator('const-res@1') ====
    """

    def __init__(
        self,
        variant_or_store: str | Variant | Any,
        store: Any = None,
        *,
        split: str = "test",
        engine: str | Any = "builtin",
        engine_settings: dict | None = None,
        origin_search: bool = False,
        hand_search: bool = False,
    ):
        if isinstance(variant_or_store, str | Variant):
            self.variant = get_variant(variant_or_store)
            if isinstance(store, str | os.PathLike):
                from crysbench.store import open_store

                store = open_store(str(store), self.variant.key)
        else:
            if store is not None:
                raise TypeError("give Evaluator(store) or Evaluator(variant, store=store)")
            store = variant_or_store
            self.variant = get_variant(str(store.variant))
        if store is not None and get_variant(str(store.variant)).key != self.variant.key:
            raise ValueError(
                f"the store was built with {store.variant}, not {self.variant.key}: "
                f"score it with Evaluator(store) or build {self.variant.key}"
            )
        self.store = store
        self.split = split
        self.engine = engine
        self.engine_settings = dict(engine_settings or {})
        self.origin_search = bool(origin_search)
        self.hand_search = bool(hand_search)
        self.shell_edges = shell_edges(self.variant)

    def __repr__(self) -> str:
        return f"Evaluator({self.variant.key!r})"

    # -- formats ----------------------------------------------------------------
    @property
    def expected_input_format(self) -> str:
        """What :meth:`validate` and :meth:`evaluate` accept, in words."""
        store = self.store
        n_ids = ""
        fingerprint = "<the store's test fingerprint>"
        if store is not None:
            n_ids = f" ({len(store.ids(self.split))} ids)"
            fingerprint = str(getattr(store, "fingerprint", fingerprint))
        return INPUT_FORMAT.format(
            name=repr(self), split=self.split, n_ids=n_ids, variant=self.variant.key,
            dmin="–".join(f"{d:g}" for d in sorted(set(self.variant.dmin_range))),
            fingerprint=fingerprint,
        )  # fmt: skip

    @property
    def expected_output_format(self) -> str:
        """What :meth:`evaluate` and :meth:`aggregate` return, in words."""
        dmin = f"{self.variant.dmin_range[0]:g}"
        return OUTPUT_FORMAT.format(name=repr(self), n=N_SHELLS, dmin=dmin)

    def _need_store(self) -> Any:
        if self.store is None:
            raise ValueError(
                f"{self!r} has no store to score against: give "
                f"Evaluator({self.variant.key!r}, store=...) or Evaluator(store)"
            )
        return self.store

    # -- the three steps --------------------------------------------------------
    def validate(
        self, predictions: str | Path | Mapping[str, Any], allow_missing: bool = False
    ) -> tuple[list[str], list[str]]:
        """Check predictions against the store, from headers alone.

        Parameters
        ----------
        predictions : path or mapping
            See :attr:`expected_input_format`.
        allow_missing : bool
            Accept a subset of the split.

        Returns
        -------
        ids : list of str
            Ids to score, in store order.
        missing : list of str
            Ids of the split without a prediction (only with ``allow_missing``).

        Raises
        ------
        crysbench.EvaluationError
            Every problem at once (:func:`crysbench.validation.validate`).
        """
        return validate(
            load_predictions(predictions), self._need_store(), self.split, allow_missing
        )

    def evaluate(
        self,
        predictions: str | Path | Mapping[str, Any],
        allow_missing: bool = False,
        n_jobs: int = 1,
        progress: bool = False,
        journal: str | Path | None = None,
        backend: str = "loky",
        scheduler: Any = None,
    ) -> list[dict]:
        """Validate, then score every prediction: one row per example, in store order.

        Parameters
        ----------
        predictions : path or mapping
            See :attr:`expected_input_format`.
        allow_missing : bool
            Score the predictions given when some ids of the split have none.
        n_jobs : int
            Worker processes (loky), or the size of a local dask cluster.
        progress : bool
            Progress bar with rate and ETA on stderr.
        journal : path, optional
            Append every finished row to this JSON-lines file and skip the rows already
            in it (same run only), so an interrupted evaluation resumes.
        backend : {"loky", "dask"}
            Where the workers run (see :mod:`crysbench.scoring`).
        scheduler : str or distributed.Client, optional
            Dask scheduler address or client, with ``backend="dask"``.

        Returns
        -------
        list of dict
            The rows (:func:`crysbench.rows.evaluate_example`).

        Raises
        ------
        crysbench.EvaluationError
            Invalid predictions; maps found to hold NaN/inf while scoring are listed
            together once the others are scored.
        """
        run = self._score(
            load_predictions(predictions), allow_missing, n_jobs, progress, journal, backend,
            scheduler,
        )  # fmt: skip
        return run["rows"]

    def aggregate(self, rows: list[dict], missing: list[str] | None = None) -> dict:
        """The board numbers of a list of rows (:func:`crysbench.rows.aggregate`).

        Parameters
        ----------
        rows : list of dict
            As returned by :meth:`evaluate`.
        missing : list of str, optional
            Ids of the split left unscored, reported as ``missing``.

        Returns
        -------
        dict
            See :attr:`expected_output_format`.
        """
        return aggregate(rows, missing)

    def results(
        self,
        predictions: str | Path | Mapping[str, Any],
        allow_missing: bool = False,
        n_jobs: int = 1,
        progress: bool = True,
        journal: str | Path | None = None,
        backend: str = "loky",
        scheduler: Any = None,
    ) -> dict:
        """Score predictions into a whole results dict (what ``results.json`` holds).

        Parameters
        ----------
        predictions : path or mapping
            See :attr:`expected_input_format`.
        allow_missing : bool
            Accept a subset of the split; the others are listed as ``missing``.
        n_jobs : int
            Worker processes.
        progress : bool
            Progress bar on stderr.
        journal : path, optional
            Row journal that makes the run resumable.
        backend : {"loky", "dask"}
            Where the workers run.
        scheduler : str or distributed.Client, optional
            Dask scheduler.

        Returns
        -------
        dict
            Results, ``schema_version`` 1: ``crysbench_version``, ``variant``,
            ``store_fingerprint``, ``split``, ``predictions``, ``engine``, ``settings``,
            ``shell_edges`` (1/d², Å⁻²), ``shell_d`` (Å), ``aggregate``, ``examples``
            (rows), ``elapsed_s``, ``recipe_hash`` and ``versions`` (libraries).

        Raises
        ------
        crysbench.EvaluationError
            As for :meth:`evaluate`.
        """
        t0 = time.perf_counter()
        preds = load_predictions(predictions)
        run = self._score(preds, allow_missing, n_jobs, progress, journal, backend, scheduler)
        store, edges = self.store, self.shell_edges
        results = {
            "schema_version": SCHEMA_VERSION,
            "crysbench_version": __version__,
            "variant": str(getattr(store, "variant", "")),
            "store_fingerprint": getattr(store, "fingerprint", None),
            "split": self.split,
            "predictions": preds.source,
            "engine": run["engine"],
            "settings": run["settings"],
            "shell_edges": [float(e) for e in edges],
            "shell_d": [(1 / math.sqrt(e)) if e > 0 else None for e in edges],
            "aggregate": aggregate(run["rows"], run["missing"]),
            "examples": [],
            "elapsed_s": time.perf_counter() - t0,
            **provenance(store, self.variant),
        }
        results = clean(results)
        results["examples"] = run["rows"]  # clean already (evaluate_example, or the journal)
        return results

    # -- the run ----------------------------------------------------------------
    def _engine(self) -> Any:
        from crysbench.refine import get_engine

        if isinstance(self.engine, str):
            return get_engine(self.engine, **self.engine_settings)
        return self.engine

    def _score(
        self,
        preds: Predictions,
        allow_missing: bool,
        n_jobs: int,
        progress: bool,
        journal: str | Path | None,
        backend: str,
        scheduler: Any,
    ) -> dict:
        """Validate and score; ``rows``, ``missing``, ``engine`` (name) and ``settings``."""
        from crysbench.journal import run_header
        from crysbench.scoring import score_all

        store, split = self._need_store(), self.split
        ids, missing = validate(preds, store, split, allow_missing)
        eng = self._engine()
        refine_engine = None if eng.name == "none" else eng
        settings = {
            "engine": dict(getattr(eng, "settings", {}) or {}),
            "origin_search": self.origin_search,
            "hand_search": self.hand_search,
            "n_shells": N_SHELLS,
            "phase_error_weights": "|F_true|",
            "allow_missing": bool(allow_missing),
        }
        header = run_header(preds, store, split, eng.name, settings)
        rows = score_all(
            store, split, preds, ids, self.shell_edges, refine_engine, self.origin_search,
            self.hand_search, n_jobs=n_jobs, progress=progress, journal=journal, header=header,
            backend=backend, scheduler=scheduler,
        )  # fmt: skip
        return {"rows": rows, "missing": missing, "engine": eng.name, "settings": settings}


def evaluate(
    predictions: str | Path | Mapping[str, Any],
    store: Any,
    split: str = "test",
    engine: str | Any = "builtin",
    allow_missing: bool = False,
    origin_search: bool = False,
    hand_search: bool = False,
    n_jobs: int = 1,
    progress: bool = True,
    engine_settings: dict | None = None,
    journal: str | Path | None = None,
    backend: str = "loky",
    scheduler: Any = None,
) -> dict:
    """Score predictions against a store split: ``Evaluator(store, ...).results(...)``.

    Parameters
    ----------
    predictions : path or mapping
        See :attr:`Evaluator.expected_input_format`.
    store : Store-like
        ``.ids(split)``, ``.get(id)``, ``.fingerprint``, ``.variant`` (a known variant); a
        crysbench :class:`~crysbench.store.Store` is read column-wise and in chunks.
    split : str
        The split scored.
    engine : str or engine object
        ``"builtin"``, ``"shelxe"`` or ``"none"``.
    allow_missing : bool
        Accept a subset of the split.
    origin_search, hand_search : bool
        Align origins / hands first.
    n_jobs : int
        Worker processes.
    progress : bool
        Progress bar on stderr.
    engine_settings : dict, optional
        Keyword arguments of the engine.
    journal : path, optional
        Row journal that makes the run resumable.
    backend : {"loky", "dask"}
        Where the workers run.
    scheduler : str or distributed.Client, optional
        Dask scheduler.

    Returns
    -------
    dict
        See :meth:`Evaluator.results`.

    Raises
    ------
    crysbench.EvaluationError
        Invalid predictions.
    KeyError
        The store's variant is unknown.
    """
    ev = Evaluator(
        store, split=split, engine=engine, engine_settings=engine_settings,
        origin_search=origin_search, hand_search=hand_search,
    )  # fmt: skip
    return ev.results(predictions, allow_missing, n_jobs, progress, journal, backend, scheduler)
