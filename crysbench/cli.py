"""Command-line entry point: ``crysbench <command> ...``.

Each subcommand parses its arguments and calls one public function; errors are
reported as one line on stderr with a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys

from crysbench._version import __version__

__all__ = ["main", "make_parser"]


def _cmd_build(args: argparse.Namespace) -> int:
    from crysbench.build import build_store
    from crysbench.report import format_report

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


def _cmd_info(args: argparse.Namespace) -> int:
    from crysbench.report import format_info
    from crysbench.store import open_store

    store = open_store(args.store)
    if args.ids:
        for i in store.ids(args.ids):
            print(i)
        return 0
    info = store.info()
    print(json.dumps(info, indent=2) if args.json else format_info(info))
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from crysbench.store import open_store

    store = open_store(args.store)
    report = store.verify(block=args.block)
    if args.json:
        print(json.dumps(report, indent=2))
    for p in report["problems"]:
        print(p, file=sys.stderr)
    if report["problems"]:
        n_ex = len(report["damaged"])
        which = f" in {n_ex} example(s)" if n_ex else ""
        print(
            f"crysbench verify: {args.store}: damaged, {len(report['problems'])} problem(s)"
            f"{which}; rebuild it or fetch it again",
            file=sys.stderr,
        )
        return 1
    if not args.json:
        print(
            f"ok: {args.store}: {report['n_examples']} examples match their checksums; "
            f"test fingerprint {report['fingerprint']}"
        )
    return 0


def _positive(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def _cmd_export(args: argparse.Namespace) -> int:
    from crysbench.export import export_example, export_hdf5
    from crysbench.store import open_store

    store = open_store(args.store)
    if args.format == "hdf5":
        path = export_hdf5(store, args.split, args.to)
        print(f"wrote {path}")
        return 0
    if not args.ids:
        raise ValueError("give at least one example ID (or --format hdf5 --split NAME)")
    for example_id in args.ids:
        for path in export_example(store.get(example_id), args.to):
            print(f"wrote {path}")
    return 0


def make_parser() -> argparse.ArgumentParser:
    """The ``crysbench`` parser with one subcommand per task."""
    parser = argparse.ArgumentParser(
        prog="crysbench",
        description="Datasets, scoring and leaderboards for learning to phase protein crystals.",
    )
    parser.add_argument("--version", action="version", version=f"crysbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

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
        type=_positive,
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
    p.add_argument(
        "--limit", type=_positive, help="only the first N entries (N >= 1, quick subset)"
    )
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
    p.set_defaults(func=_cmd_build)

    p = sub.add_parser("info", help="summarise a store", description="Summarise a built store.")
    p.add_argument("store")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--ids", metavar="SPLIT", help="print the example ids of a split")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser(
        "verify",
        help="check every example of a store against its checksums",
        description="Check a store: every example against its checksum, the metadata, the "
        "chunks on disk and the test fingerprint; exit 1 naming what is damaged.",
    )
    p.add_argument("store")
    p.add_argument("--json", action="store_true", help="machine-readable report on stdout")
    p.add_argument("--block", type=_positive, default=512, help="examples per read (512)")
    p.set_defaults(func=_cmd_verify)

    p = sub.add_parser(
        "export",
        help="write examples as PDB/mmCIF/MTZ/CCP4 maps, or HDF5",
        description="Export examples for Coot/CCP4/gemmi, or a split to HDF5.",
    )
    p.add_argument("store")
    p.add_argument("ids", nargs="*", metavar="ID")
    p.add_argument("--to", required=True, help="output folder (or .h5 file with --format hdf5)")
    p.add_argument("--format", choices=["files", "hdf5"], default="files")
    p.add_argument("--split", default="test", help="split for --format hdf5")
    p.set_defaults(func=_cmd_export)

    _evaluate = importlib.import_module("crysbench.evaluate")
    if hasattr(_evaluate, "add_arguments"):
        p = sub.add_parser(
            "evaluate",
            help="score predicted maps against a store",
            description="Score predicted density maps (SPEC §6).",
        )
        _evaluate.add_arguments(p)
        p.set_defaults(func=_evaluate.run_cli)
    try:
        _lb = importlib.import_module("crysbench.leaderboard")
    except ModuleNotFoundError:  # pragma: no cover - until leaderboards land
        _lb = None
    if _lb is not None and hasattr(_lb, "add_subcommands"):
        _lb.add_subcommands(sub)
    return parser


def _message(exc: BaseException) -> str:
    """One line for an error: a bare ``KeyError('cell')`` says what is missing."""
    if isinstance(exc, KeyError) and exc.args:
        arg = exc.args[0]
        if isinstance(arg, str) and " " in arg:
            return arg  # crysbench's own messages
        return f"missing {arg!r} (KeyError: an incomplete or damaged file)"
    return str(exc)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    command = None
    try:
        parser = make_parser()
        args = parser.parse_args(argv)
        command = getattr(args, "command", None)
        if not command:
            parser.print_help()
            return 2
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        hint = (
            "; finished entries are kept, run the same command to resume"
            if command == "build"
            else ""
        )
        print(f"crysbench{' ' + command if command else ''}: interrupted{hint}", file=sys.stderr)
        return 130
    except (ValueError, KeyError, OSError, RuntimeError) as exc:
        print(f"crysbench {command}: error: {_message(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
