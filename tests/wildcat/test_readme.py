"""The README documents every environment variable settings.py reads, in a table with its default."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_setting_from_the_environment_is_in_a_readme_table():
    settings_source = (ROOT / "wildcat" / "settings.py").read_text()
    variables = set(re.findall(r'env_[a-z]+\(\s*"([A-Z0-9_]+)"', settings_source))
    assert {"DATABASE_URL", "REDIS_URL", "WILDCAT_SECRET_KEY", "WILDCAT_API_RATE"} <= variables
    table_rows = [line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("| `")]
    documented = {name for row in table_rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split("|")[1])}
    assert sorted(variables - documented) == []


def test_readme_links_the_api_docs_and_explains_the_storage_choices():
    text = (ROOT / "README.md").read_text()
    for needle in (
        "/api/docs/",
        "/api/schema/",
        "djongo",
        "SQLDecodeError",
        "filesystem transport",
        "make run",
        "make test",
    ):
        assert needle in text, needle
