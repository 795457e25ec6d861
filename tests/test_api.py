"""The public API resolves lazily and `planner --help` does not import heavy libraries."""

from __future__ import annotations

import subprocess
import sys

import pytest

import planner


def test_every_export_resolves():
    for name in planner.__all__:
        if name in ("solve", "check", "explain") and not _has(name):
            continue
        assert getattr(planner, name) is not None


def _has(name: str) -> bool:
    import importlib.util

    module = {"solve": "planner.solve", "check": "planner.check", "explain": "planner.explain"}
    return importlib.util.find_spec(module[name]) is not None


def test_unknown_attribute():
    with pytest.raises(AttributeError):
        planner.nope  # noqa: B018


def test_cli_start_does_not_import_heavy_modules():
    code = (
        "import sys; import planner.cli; "
        "heavy = [m for m in ('ortools', 'numpy', 'pandas', 'XenAPI', 'distributed', "
        "'matplotlib', 'networkx') if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
