"""Human-readable tables for build reports, store summaries and evaluation results."""

from __future__ import annotations

from typing import Any

__all__ = ["format_report", "format_info", "format_results", "format_table"]


def format_table(rows: list[tuple], header: tuple) -> str:
    """A plain-text table with aligned columns."""
    cells = [tuple(str(c) for c in header)] + [tuple(str(c) for c in r) for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(c.ljust(w) for c, w in zip(cells[0], widths)), line]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in cells[1:]]
    return "\n".join(out)


def _bucket_histogram(buckets: list[dict], top: int = 10) -> str:
    rows = sorted(buckets, key=lambda b: -b["count"])[:top]
    width = max((b["count"] for b in rows), default=1)
    lines = [
        f"  {'x'.join(map(str, b['shape'])):>12}  {b['count']:>6}  "
        f"{'#' * max(1, round(30 * b['count'] / width))}"
        for b in rows
    ]
    more = len(buckets) - len(rows)
    if more > 0:
        lines.append(f"  … {more} more buckets")
    return "\n".join(lines)


def format_report(report: dict) -> str:
    """The build report as text: counts, rejections, buckets, time per stage."""
    parts = [
        f"crysbench build {report['variant']}: {report['n_examples']} examples "
        f"from {report['n_entries']} entries"
    ]
    parts.append(format_table([(k, v) for k, v in report["counts"].items()], ("split", "examples")))
    if report.get("rejected"):
        parts.append(format_table(sorted(report["rejected"].items()), ("rejected because", "n")))
    parts.append(f"buckets (grid shape, examples): {len(report['buckets'])}")
    parts.append(_bucket_histogram(report["buckets"]))
    t = report.get("time", {})
    parts.append(format_table([(k, f"{v:.2f}") for k, v in t.items()], ("stage", "seconds")))
    if report.get("paper"):
        pp = report["paper"]
        parts.append(
            f"paper's const-res ids for {len(pp['entries'])} entries in its list: "
            f"{pp['reproduced']} of {pp['paper_ids']} reproduced"
            + (f"; missing: {pp['missing_by_reason']}" if pp["missing"] else "")
            + (f"; {len(pp['extra'])} ids not in the paper's list" if pp["extra"] else "")
        )
    res = report.get("resources")
    if res:
        mb = 2**20
        parts.append(
            f"peak memory: {res['peak_rss_main'] / mb:.0f} MB (this process), "
            f"{res['peak_rss_worker'] / mb:.0f} MB (largest worker); open files: at most "
            f"{res['open_files_max']} (ulimit -n {res['open_files_limit']}); scratch: "
            f"{res['scratch_bytes'] / mb:.1f} MB in {res['scratch_files']} files"
            + (
                f" ({res['scratch_over_store']:.2f}x the store)"
                if "scratch_over_store" in res
                else ""
            )
            + f"; {res['cached_entries']} of {report['n_entries']} entries from the cache"
        )
    if report.get("cache"):
        parts.append(f"built entries are cached in {report['cache']} (--no-cache to skip)")
    if "bytes_per_example" in report:
        parts.append(
            f"on disk: {report['bytes_per_example'] / 1024:.1f} KB/example, "
            f"{report['files_per_1000']:.1f} files per 1,000 examples"
        )
    return "\n\n".join(parts)


def format_info(info: dict) -> str:
    """``crysbench info`` as text."""
    rows = [
        ("store", info["path"]),
        ("variant", f"{info['variant']}@{info['version']}"),
        ("recipe hash", info["recipe_hash"]),
        ("crysbench", info["crysbench_version"]),
        ("test fingerprint", info["fingerprint"]),
    ]
    rows += [(f"examples ({k})", v) for k, v in info["counts"].items()]
    for kind, n in info["normalization"].items():
        lo = f", min {n['min']:.4g}" if "min" in n else ""
        rows.append((f"{kind} scale", f"{n['scale']:.4g} (max {n['max']:.4g}{lo})"))
    rows.append(("buckets", len(info["buckets"])))
    if info.get("bytes_per_example"):
        rows.append(("bytes/example", f"{info['bytes_per_example']:.0f}"))
    text = format_table(rows, ("field", "value"))
    if info.get("rejected"):
        text += "\n\n" + format_table(sorted(info["rejected"].items()), ("rejected because", "n"))
    return text


def _f(x: Any, fmt: str = ".3f") -> str:
    return "—" if x is None else format(x, fmt)


def format_results(results: dict) -> str:
    """Human-readable summary of an evaluation: headline numbers and the shell table.

    Parameters
    ----------
    results : dict
        As returned by :func:`crysbench.evaluate`.

    Returns
    -------
    str
        Lines of text, no trailing newline.
    """
    a = results["aggregate"]
    st = a.get("stats", {})
    lines = [
        f"crysbench evaluate  variant {results['variant']}  split {results['split']}  "
        f"engine {results['engine']}  examples {a['n_examples']}  missing {len(a['missing'])}",
        "",
        f"{'metric':<24}{'mean':>10}{'median':>10}{'std':>10}",
    ]
    for field, fmt in (
        ("pearson", ".3f"), ("amplitude_pearson", ".3f"), ("phase_error", ".1f"),
        ("phase_error_weighted", ".1f"), ("final_phase_error_weighted", ".1f"),
    ):  # fmt: skip
        if field in st:
            s = st[field]
            lines.append(
                f"{field:<24}{_f(s['mean'], fmt):>10}{_f(s['median'], fmt):>10}"
                f"{_f(s['std'], fmt):>10}"
            )
    lines.append(f"{'fraction < 60°':<24}{_f(a['fraction_below_60']):>10}")
    lines.append(f"{'refined fraction':<24}{_f(a['refined_fraction']):>10}")
    lines += ["", f"{'shell d (Å)':<18}{'n ex':>6}{'phase err':>11}{'frac<60':>9}"]
    d = results["shell_d"]
    for i, pe in enumerate(a["phase_error_by_shell"]):
        lo = "inf" if d[i] is None else f"{d[i]:.2f}"
        hi = "inf" if d[i + 1] is None else f"{d[i + 1]:.2f}"
        lines.append(
            f"{lo + '–' + hi:<18}{a['n_by_shell'][i]:>6}{_f(pe, '.1f'):>11}"
            f"{_f(a['fraction_below_60_by_shell'][i], '.2f'):>9}"
        )
    return "\n".join(lines)
