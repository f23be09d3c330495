"""Moved to :mod:`crysbench.leaderboard.submission`; this name stays for old imports."""

from crysbench.leaderboard.submission import (
    MAX_FILE_BYTES,
    MAX_RESULTS_BYTES,
    META_FIELDS,
    NAME_PATTERN,
    OPTIONAL_META_FIELDS,
    TOLERANCE,
    check_results,
    check_submission,
    ids_digest,
    results_files,
    validate_meta,
    validate_name,
)

__all__ = [
    "META_FIELDS",
    "OPTIONAL_META_FIELDS",
    "NAME_PATTERN",
    "MAX_FILE_BYTES",
    "MAX_RESULTS_BYTES",
    "TOLERANCE",
    "results_files",
    "ids_digest",
    "validate_name",
    "validate_meta",
    "check_results",
    "check_submission",
]
