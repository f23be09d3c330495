"""``crysbench export``: examples as PDB/mmCIF/MTZ/CCP4 files, or a split as HDF5."""

from __future__ import annotations

import argparse
from typing import Any

from crysbench.cli._args import UsageError

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``export`` to the ``crysbench`` subparsers."""
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
    p.set_defaults(func=run, cli_command="export")
    return p


def run(args: argparse.Namespace) -> int:
    """Write the files and print their paths."""
    from crysbench.export import export_example, export_hdf5
    from crysbench.store import open_store

    store = open_store(args.store)
    if args.format == "hdf5":
        path = export_hdf5(store, args.split, args.to)
        print(f"wrote {path}")
        return 0
    if not args.ids:
        raise UsageError("give at least one example ID (or --format hdf5 --split NAME)")
    for example_id in args.ids:
        for path in export_example(store.get(example_id), args.to):
            print(f"wrote {path}")
    return 0
