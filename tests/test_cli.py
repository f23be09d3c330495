"""The ``crysbench.cli`` package: one module per subcommand, one error policy."""

import importlib

import pytest

from crysbench import cli
from crysbench.cli import COMMANDS, UsageError, main, make_parser

HELP = [
    ["build"],
    ["info"],
    ["verify"],
    ["export"],
    ["evaluate"],
    ["submit"],
    ["leaderboard"],
    ["leaderboard", "check"],
    ["leaderboard", "new"],
]


@pytest.mark.parametrize("words", HELP, ids=" ".join)
def test_every_subcommand_has_help(words, capsys):
    with pytest.raises(SystemExit) as exc:
        main([*words, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: crysbench {' '.join(words)}")


def test_every_module_has_add_parser_and_run():
    for module in COMMANDS:
        assert callable(module.add_parser), module.__name__
        runs = [n for n in module.__all__ if n.startswith("run")]
        assert runs and all(callable(getattr(module, n)) for n in runs), module.__name__


def test_no_command_prints_help_exit_2(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_bad_usage_is_argparse_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["leaderboard"])  # an action is required
    assert exc.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_subcommand_names_its_errors(monkeypatch, capsys):
    def broken(args):
        raise OSError("disk on fire")

    monkeypatch.setattr(cli.leaderboard, "run_check", broken)
    assert main(["leaderboard", "check"]) == 1
    assert capsys.readouterr().err == "crysbench leaderboard check: error: disk on fire\n"


@pytest.mark.parametrize(
    "exc, code",
    [
        (ValueError("v"), 1),
        (RuntimeError("r"), 1),
        (UsageError("u"), 1),
        (KeyboardInterrupt(), 130),
    ],
)
def test_error_policy_one_line(exc, code, monkeypatch, capsys):
    def broken(args):
        raise exc

    monkeypatch.setattr(cli.info, "run", broken)
    assert main(["info", "x.zarr"]) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("crysbench info: ")
    assert "Traceback" not in err


def test_usage_error_from_a_command(capsys):
    assert main(["submit", "--name", "x", "--meta", "m.json"]) == 1
    err = capsys.readouterr().err
    assert err == (
        "crysbench submit: error: give PREDICTIONS and --store STORE (or --results FILE)\n"
    )


def test_export_without_ids_is_a_usage_error(monkeypatch, tmp_path, capsys):
    import crysbench.store

    monkeypatch.setattr(crysbench.store, "open_store", lambda path: object())
    assert main(["export", "s.zarr", "--to", str(tmp_path)]) == 1
    assert "give at least one example ID" in capsys.readouterr().err


def test_parser_is_exposed_for_docs():
    parser = make_parser()
    args = parser.parse_args(["leaderboard", "new", "s.zarr", "--rank-by", "pearson"])
    assert args.cli_command == "leaderboard new" and args.rank_by == "pearson"


def test_old_presentation_paths_still_import():
    plots = importlib.import_module("crysbench.plots")
    from crysbench.cli.plots import plot_shells

    assert plots.plot_shells is plot_shells
    from crysbench.leaderboard.meta import validate_meta
    from crysbench.submission import check_submission
    from crysbench.submission import validate_meta as old_validate_meta

    assert old_validate_meta is validate_meta and callable(check_submission)


@pytest.mark.parametrize("package", ["crysbench.cli", "crysbench.leaderboard"])
def test_subpackage_modules_declare_all(package):
    import pkgutil

    pkg = importlib.import_module(package)
    for info in pkgutil.iter_modules(pkg.__path__):
        if info.name == "__main__":
            continue
        m = importlib.import_module(f"{package}.{info.name}")
        assert m.__all__, m.__name__
        for name in m.__all__:
            assert hasattr(m, name), f"{m.__name__}.{name}"


def test_python_dash_m_runs_the_cli():
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "crysbench.cli", "--version"], capture_output=True, text=True
    )
    assert out.returncode == 0 and out.stdout.startswith("crysbench ")
