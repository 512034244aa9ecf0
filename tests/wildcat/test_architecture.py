"""ARCHITECTURE.md names every module, and the import-layer contract places every module on a floor."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = ["wildcat", "apikeys", "accounts", "messaging", "webhooks", "console"]


def _modules() -> list[Path]:
    found = []
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if "migrations" in relative.parts or path.name == "__init__.py":
                continue
            found.append(relative)
    return found


def test_the_module_map_names_every_module():
    text = (ROOT / "ARCHITECTURE.md").read_text()
    map_section = text.split("## Module map", 1)[1]
    modules = _modules()
    assert len(modules) > 80
    missing = [str(path) for path in modules if f"`{path}`" not in map_section]
    assert not missing, f"add these modules to ARCHITECTURE.md's module map: {missing}"
    named = {line.split("`")[1] for line in map_section.splitlines() if line.startswith("- `")}
    gone = sorted(name for name in named if name.endswith(".py") and not (ROOT / name).exists())
    assert not gone, f"the module map names modules that no longer exist: {gone}"


def test_every_module_is_on_a_floor_of_the_import_contract():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    floors = next(c for c in config["contracts"] if c["type"] == "layers")["layers"]
    placed = {name.strip() for layer in floors for name in layer.replace("|", ":").split(":")}
    assert "wildcat" in placed and "accounts.runtime" in placed
    unplaced = []
    for path in _modules():
        dotted = ".".join(path.with_suffix("").parts)
        prefixes = {".".join(dotted.split(".")[:n]) for n in range(1, len(dotted.split(".")) + 1)}
        if not prefixes & placed:
            unplaced.append(dotted)
    assert not unplaced, f"put these modules on a floor in pyproject.toml's layers contract: {unplaced}"
