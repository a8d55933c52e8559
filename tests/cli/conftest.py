"""The real Azure CLI against the real portal over HTTPS (issue 14).

- The CLI is azure-cli 2.91.0 in its own venv (``make az-cli``: ``.venv-az``, never the project's venv);
  ``$AZ_CLI`` names another ``az``. Without it the tests skip with the reason — unless ``REQUIRE_AZ_CLI=1``
  (CI), where a missing CLI fails them.
- ``az`` runs one command with its own ``AZURE_CONFIG_DIR`` (per test), trusting the portal's CA
  (``REQUESTS_CA_BUNDLE``), instance discovery off (``core.instance_discovery=false``: MSAL would ask
  login.microsoftonline.com about the authority), no telemetry, ``--only-show-errors``; it returns the
  parsed JSON output (None when there is none) and raises ``AzError`` with stderr when the command fails.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
AZ_VERSION = "2.91.0"


def az_path() -> Path:
    return Path(os.environ.get("AZ_CLI") or ROOT / ".venv-az" / "bin" / "az")


class AzError(AssertionError):
    def __init__(self, args: list[str], returncode: int, stderr: str):
        super().__init__(f"az {' '.join(args)} exited with {returncode}:\n{stderr}")
        self.returncode, self.stderr = returncode, stderr


@pytest.fixture(scope="session")
def az_cli() -> Path:
    path = az_path()
    if not (path.is_file() and os.access(path, os.X_OK)):
        reason = f"the Azure CLI is not installed at {path} (make az-cli, or set AZ_CLI)"
        if os.environ.get("REQUIRE_AZ_CLI") == "1":
            pytest.fail(f"REQUIRE_AZ_CLI=1 but {reason}", pytrace=False)
        pytest.skip(f"{reason} — az tests skipped (set REQUIRE_AZ_CLI=1 to make this a failure)")
    return path


@pytest.fixture
def az(az_cli, https_portal, tmp_path):
    """``az("cloud", "show")`` → the parsed JSON of ``az cloud show``, against ``https_portal``'s CA."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "AZ_", "MSAL_"))},
        "AZURE_CONFIG_DIR": str(tmp_path / "azure-config"),
        "REQUESTS_CA_BUNDLE": https_portal.ca_bundle,
        "SSL_CERT_FILE": https_portal.ca_bundle,
        "AZURE_CORE_INSTANCE_DISCOVERY": "false",
        "AZURE_CORE_COLLECT_TELEMETRY": "false",
        "AZURE_CORE_SURVEY_MESSAGE": "false",
        "AZURE_CORE_NO_COLOR": "true",
        "AZURE_CORE_OUTPUT": "json",
    }

    def run(*args: str, timeout: float = 120):
        argv = [str(az_cli), *args, "--only-show-errors"]
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise AzError(list(args), done.returncode, done.stderr)
        return json.loads(done.stdout) if done.stdout.strip() else None

    run.env = env
    return run
