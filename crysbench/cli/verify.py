"""``crysbench verify``: check every example of a store against its checksums."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from crysbench.cli._args import positive

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``verify`` to the ``crysbench`` subparsers."""
    p = sub.add_parser(
        "verify",
        help="check every example of a store against its checksums",
        description="Check a store: every example against its checksum, the metadata, the "
        "chunks on disk and the test fingerprint; exit 1 naming what is damaged.",
    )
    p.add_argument("store")
    p.add_argument("--json", action="store_true", help="machine-readable report on stdout")
    p.add_argument("--block", type=positive, default=512, help="examples per read (512)")
    p.set_defaults(func=run, cli_command="verify")
    return p


def run(args: argparse.Namespace) -> int:
    """Verify the store; exit 1 listing the problems on stderr."""
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
