"""Generate a Python client from the live /api/schema/ with openapi-python-client, and import it unchanged."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from urllib.request import urlopen

PACKAGE = "wildcat_client"
# No formatter hooks (the generator would look for ruff on PATH), and the QR PNG read as bytes.
GENERATOR_CONFIG = "post_hooks: []\ncontent_type_overrides:\n  image/png: application/octet-stream\n"


class GeneratedClient:
    """The generated package, with its operations looked up by operation id (whatever tag holds them)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.package = importlib.import_module(PACKAGE)
        self.models = importlib.import_module(f"{PACKAGE}.models")
        self.types = importlib.import_module(f"{PACKAGE}.types")
        self._operations = {path.stem: path for path in (folder / PACKAGE / "api").glob("*/*.py")}

    def op(self, operation_id: str) -> ModuleType:
        tag = self._operations[operation_id].parent.name
        return importlib.import_module(f"{PACKAGE}.api.{tag}.{operation_id}")

    def authenticated(self, base_url: str, token: str):
        return self.package.AuthenticatedClient(base_url=base_url, token=token, timeout=30.0)


def generate_client(base_url: str, folder: Path) -> GeneratedClient:
    """Download the schema, run the generator as its own process, offline, and import what it wrote."""
    schema = folder / "schema.json"
    with urlopen(f"{base_url}/api/schema/?format=json", timeout=30) as response:
        schema.write_bytes(response.read())
    config = folder / "generator.yaml"
    config.write_text(GENERATOR_CONFIG)
    generator = Path(sys.executable).parent / "openapi-python-client"
    argv = [str(generator), "generate", "--path", str(schema), "--meta", "none", "--config", str(config)]
    argv += ["--output-path", str(folder / PACKAGE), "--fail-on-warning"]
    finished = subprocess.run(argv, cwd=folder, capture_output=True, text=True, timeout=180)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    for name in [name for name in sys.modules if name == PACKAGE or name.startswith(f"{PACKAGE}.")]:
        del sys.modules[name]
    sys.path.insert(0, str(folder))
    return GeneratedClient(folder)


def forget_client(client: GeneratedClient) -> None:
    if str(client.folder) in sys.path:
        sys.path.remove(str(client.folder))
