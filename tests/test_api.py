import importlib
import subprocess
import sys

import crysbench


def test_public_names_resolve():
    for name in crysbench.__all__:
        assert getattr(crysbench, name) is not None, name


def test_import_does_not_pull_torch():
    code = (
        "import sys, crysbench, crysbench.cli; crysbench.cli.make_parser(); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_modules_declare_all():
    for mod in (
        "variants",
        "structures",
        "segments",
        "cell",
        "maps",
        "example",
        "store",
        "splits",
        "build",
        "load",
        "export",
    ):
        m = importlib.import_module(f"crysbench.{mod}")
        for name in m.__all__:
            assert hasattr(m, name), f"crysbench.{mod}.{name}"


def test_cli_help_lists_commands(capsys):
    from crysbench.cli import main

    try:
        main(["--help"])
    except SystemExit:
        pass
    out = capsys.readouterr().out
    for cmd in ("build", "info", "export"):
        assert cmd in out
