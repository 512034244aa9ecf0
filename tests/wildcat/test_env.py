import pytest

from wildcat.env import ConfigError, env_bool, env_int, env_list, env_str


def test_env_bool_accepts_only_explicit_spellings(monkeypatch):
    monkeypatch.setenv("WC_FLAG", "true")
    assert env_bool("WC_FLAG") is True
    monkeypatch.setenv("WC_FLAG", "off")
    assert env_bool("WC_FLAG", True) is False
    monkeypatch.setenv("WC_FLAG", "maybe")
    with pytest.raises(ConfigError):
        env_bool("WC_FLAG")


def test_env_int_checks_shape_and_minimum(monkeypatch):
    monkeypatch.setenv("WC_NUM", "12")
    assert env_int("WC_NUM", 3) == 12
    monkeypatch.setenv("WC_NUM", "twelve")
    with pytest.raises(ConfigError):
        env_int("WC_NUM", 3)
    monkeypatch.setenv("WC_NUM", "0")
    with pytest.raises(ConfigError):
        env_int("WC_NUM", 3, minimum=1)


def test_env_str_reads_file_variant(monkeypatch, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("from-file\n")
    monkeypatch.setenv("WC_SECRET_FILE", str(secret))
    assert env_str("WC_SECRET") == "from-file"


def test_env_list_drops_blanks(monkeypatch):
    monkeypatch.setenv("WC_LIST", "a, b,,c ")
    assert env_list("WC_LIST") == ["a", "b", "c"]


def test_env_str_treats_empty_as_unset(monkeypatch):
    monkeypatch.setenv("WC_URL", "")
    assert env_str("WC_URL", "sqlite:///default") == "sqlite:///default"
