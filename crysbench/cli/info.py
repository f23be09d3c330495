"""``crysbench info``: summarise a store, or list a split's example ids."""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``info`` to the ``crysbench`` subparsers."""
    p = sub.add_parser("info", help="summarise a store", description="Summarise a built store.")
    p.add_argument("store")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--ids", metavar="SPLIT", help="print the example ids of a split")
    p.set_defaults(func=run, cli_command="info")
    return p


def run(args: argparse.Namespace) -> int:
    """Print the store summary (or the ids of ``--ids SPLIT``)."""
    from crysbench.cli.report import format_info
    from crysbench.store import open_store

    store = open_store(args.store)
    if args.ids:
        for i in store.ids(args.ids):
            print(i)
        return 0
    info = store.info()
    print(json.dumps(info, indent=2) if args.json else format_info(info))
    return 0
