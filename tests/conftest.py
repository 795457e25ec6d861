"""Shared fixtures: the bundled inventories and a writable copy of one.

Kept small and stable: other test modules rely on these names.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from planner.inventory import Inventory, load, sample_path


@pytest.fixture(scope="session")
def sample_inv() -> Inventory:
    """The bundled one-pool "lab" inventory (planner/data/sample.json)."""
    return load(sample_path("sample"))


@pytest.fixture(scope="session")
def two_pools_inv() -> Inventory:
    """The bundled "old" -> "new" inventory (planner/data/two-pools.json)."""
    return load(sample_path("two-pools"))


@pytest.fixture
def tmp_inventory(tmp_path: Path) -> Path:
    """A private copy of sample.json that a test may edit or overwrite."""
    dst = tmp_path / "inventory.json"
    shutil.copyfile(sample_path("sample"), dst)
    return dst


@pytest.fixture(autouse=True, scope="session")
def _no_user_config(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The operator's own config file (~/.config/xen-planner/config.toml) must not change
    what the tests see: point the user config directory at an empty one."""
    import os

    os.environ["XDG_CONFIG_HOME"] = str(tmp_path_factory.mktemp("xdg-config"))
    os.environ.pop("XEN_PLANNER_CONFIG", None)


@pytest.fixture(scope="session")
def cert(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1 and its key (PEM files), for the TLS tests
    of the collector and the executor's --ca-file / --fingerprint."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(d / "key.pem"),
            "-out",
            str(d / "cert.pem"),
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return d / "cert.pem", d / "key.pem"
