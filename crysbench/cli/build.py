"""``crysbench build``: build (or resume) a dataset store (:func:`crysbench.build.build_store`)."""

from __future__ import annotations

import argparse
from typing import Any

from crysbench.cli._args import positive

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``build`` to the ``crysbench`` subparsers."""
    p = sub.add_parser(
        "build",
        help="build a versioned zarr dataset",
        description="Build (or resume) a dataset store from PDB entries.",
    )
    p.add_argument(
        "--variant",
        default="var-res",
        help="dipeptide, const-res or var-res, optionally @VERSION (default var-res)",
    )
    p.add_argument(
        "--source",
        default="bundled",
        help="bundled (default, offline demo), rcsb, paper, or a local folder/PDB mirror",
    )
    p.add_argument("--out", help="store path or fsspec URL (default <variant>.zarr)")
    p.add_argument(
        "--jobs",
        type=positive,
        default=1,
        help="worker processes, or local dask workers (default 1)",
    )
    p.add_argument(
        "--backend",
        choices=["loky", "dask"],
        default="loky",
        help="loky: processes on this machine; dask: every stage as cluster tasks",
    )
    p.add_argument(
        "--scheduler", help="dask scheduler address, e.g. tcp://host:8786 (with --backend dask)"
    )
    p.add_argument("--limit", type=positive, help="only the first N entries (N >= 1, quick subset)")
    p.add_argument(
        "--work-dir",
        help="keep this build's per-entry results here (not in the cache); removed after success",
    )
    p.add_argument(
        "--cache-dir",
        help="cache root: downloads in pdb/, built entries in entries/ "
        "(default $CRYSBENCH_CACHE, $XDG_CACHE_HOME/crysbench or ~/.cache/crysbench)",
    )
    p.add_argument(
        "--no-cache",
        action="store_true",
        help="do not keep built entries for later builds (<out>.partial while running)",
    )
    p.add_argument(
        "--overwrite", action="store_true", help="replace an existing crysbench store at --out"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run, cli_command="build")
    return p


def run(args: argparse.Namespace) -> int:
    """Build the store and print its report."""
    from crysbench.build import build_store
    from crysbench.cli.report import format_report

    report = build_store(
        variant=args.variant,
        source=args.source,
        out=args.out,
        jobs=args.jobs,
        backend=args.backend,
        scheduler=args.scheduler,
        limit=args.limit,
        work_dir=args.work_dir,
        progress=not args.quiet,
        cache_dir=args.cache_dir,
        no_cache=args.no_cache,
        overwrite=args.overwrite,
    )
    print(format_report(report))
    return 0
