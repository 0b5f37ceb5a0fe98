"""Config loading: a wrong key or type names the key, the file, the line and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpuledger.config import Settings, canonical_team, load_settings
from gpuledger.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "gpuledger.toml"


def test_example_config_is_valid() -> None:
    settings = load_settings(EXAMPLE)
    assert "nlp" in settings.teams
    assert settings.teams["ml-platform"].accounts == ["222222222222"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[reporting]\ncurency = 'USD'\n", ":2: reporting.curency: unknown key"),
        ("[reporting]\nidle = 'nobody'\n", "reporting.idle: Input should be 'owner', 'shared'"),
        ("[smtp]\nport = 'twenty-five'\n", "smtp.port: Input should be a valid integer"),
        ("[[rules.regex]]\nfield='ResourceName'\npattern='('\nteam='x'\n", "not a valid regular"),
        ("[reporting\n", "not valid TOML"),
    ],
    ids=["unknown-key", "bad-choice", "bad-type", "bad-regex", "bad-toml"],
)
def test_config_errors_are_specific(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "gpuledger.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert expected in str(caught.value)
    assert str(path) in str(caught.value)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(tmp_path / "absent.toml")


def test_password_comes_only_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GPULEDGER_SMTP_PASSWORD", "hunter2")
    settings = Settings()
    assert settings.smtp.password is not None
    assert settings.smtp.password.get_secret_value() == "hunter2"
    assert "hunter2" not in str(settings.redacted())


@pytest.mark.parametrize(
    ("value", "team"),
    [
        ("nlp", "nlp"),
        ("NLP", "nlp"),
        ("  nlp-Research ", "nlp"),
        ("ML Platform", "ml-platform"),
        ("Data_Science Team", "data-science-team"),
        ("", None),
        (None, None),
    ],
    ids=["id", "alias-case", "alias-trim", "alias-space", "unknown-normalized", "empty", "none"],
)
def test_team_names_resolve_through_aliases(value: str | None, team: str | None) -> None:
    settings = load_settings(EXAMPLE)
    assert canonical_team(settings, value) == team
