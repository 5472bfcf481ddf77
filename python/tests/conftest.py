"""Shared fixtures: small configs written into a temporary folder, and the CLI binary."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SMALL = """
title = "small Figure 1"
seed = 3

[model]
n = 400
d = 2
tau = 0.2
tau_tilde = 0.04
eta_t = 2.0
eta_g = 2.0
lambda = "inf"

[model.latent]
cov = [[5.0, 0.0], [0.0, 3.0]]

[init]
p0 = [[0.1, 0.0], [0.0, 0.1]]
q0 = [0.1, 0.1]

[sim]
t_end = 20.0
record_dt = 1.0
members = 2
"""


@pytest.fixture
def small_toml() -> str:
    return SMALL


@pytest.fixture
def small_path(tmp_path: Path) -> Path:
    p = tmp_path / "small.toml"
    p.write_text(SMALL)
    return p


def _cli() -> str:
    exe = os.environ.get("HDGAN_CLI") or str(ROOT / "target" / "release" / "hdgan")
    if not Path(exe).is_file():
        found = shutil.which("hdgan")
        if found is None:
            pytest.skip(f"the hdgan binary is not built ({exe}); set HDGAN_CLI")
        exe = found
    return exe


@pytest.fixture
def cli():
    exe = _cli()

    def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
        return subprocess.run([exe, *args], cwd=cwd, capture_output=True, text=True, timeout=600)

    return run
