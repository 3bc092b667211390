"""Config: defaults, validation errors that name file and key, and the CLI's exit code 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from digest.config import find_config, load_settings
from digest.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "digest.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_bundled_config_loads_with_paths_relative_to_its_folder() -> None:
    settings = load_settings(ROOT / "config" / "digest.toml")
    assert settings.top_n == 5
    assert settings.paths.seeds == ROOT / "seeds"
    assert settings.smtp is None  # the first run writes to the outbox
    assert settings.feeds == ()  # and needs no network


def test_empty_config_gets_defaults(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, ""))
    assert settings.top_n == 5
    assert settings.timezone == "UTC"
    assert settings.paths.database == tmp_path.parent / "state" / "digest.sqlite3"
    assert settings.fetch.allow_private_networks is False


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        ("colour = 'red'\n", "colour", "unknown key"),
        ("[fetch]\nspeed = 3\n", "fetch.speed", "unknown key"),
        ("top_n = 'five'\n", "top_n", "must be an integer"),
        ("top_n = 0\n", "top_n", "between 1 and 50"),
        ("timezone = 'Mars/Olympus'\n", "timezone", "unknown time zone"),
        ("[[feeds]]\nname = 'x'\n", "feeds[0].url", "is required"),
        ("[[feeds]]\nurl = 'file:///etc/passwd'\n", "feeds[0].url", "http"),
        ("[smtp]\nhost = 'h'\nsecurity = 'tls'\n", "smtp.security", "none, starttls, ssl"),
        ("[email]\nto = ['nobody']\n", "email.to[0]", "not an email address"),
        ("[rank]\ninterests = 'ai'\n", "rank.interests", "list of strings"),
        ("[schedule]\ncron = '7am'\n", "schedule.cron", "five fields"),
    ],
)
def test_bad_config_names_the_file_and_key(tmp_path: Path, text: str, key: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert info.value.key == key
    assert str(path) in str(info.value) and key in str(info.value) and message in str(info.value)


def test_missing_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_settings(write(tmp_path, "title = \n"))


def test_settings_are_frozen(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, ""))
    with pytest.raises(AttributeError):
        settings.top_n = 3  # type: ignore[misc]


def test_config_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DIGEST_CONFIG", str(tmp_path / "env.toml"))
    assert find_config("flag.toml") == Path("flag.toml")
    assert find_config(None) == tmp_path / "env.toml"
    monkeypatch.delenv("DIGEST_CONFIG")
    assert find_config(None) == Path("config/digest.toml")


def test_cli_reports_config_error_in_one_line_with_exit_2(tmp_path: Path) -> None:
    path = write(tmp_path, "[fetch]\ntimeout = 3\n")
    proc = subprocess.run(
        [sys.executable, "-m", "digest", "once", "--config", str(path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "fetch.timeout" in lines[0] and "unknown key" in lines[0] and str(path) in lines[0]
    assert "Traceback" not in proc.stderr


def test_missing_password_env_fails_before_any_work(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "[paths]\ndatabase = 'state/db.sqlite3'\n[email]\nto = ['a@example.org']\n"
        "[smtp]\nhost = '127.0.0.1'\nusername = 'u'\npassword_env = 'DIGEST_TEST_NO_SUCH_VAR'\n",
    )
    proc = subprocess.run(
        [sys.executable, "-m", "digest", "once", "--config", str(path)], capture_output=True, text=True, cwd=tmp_path
    )
    assert proc.returncode == 2
    assert "DIGEST_TEST_NO_SUCH_VAR" in proc.stderr and "smtp.password_env" in proc.stderr
    assert not (tmp_path / "state").exists()  # nothing was touched


def test_cli_missing_config_file_is_one_line_exit_2(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "digest", "once"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PATH": "", "HOME": str(tmp_path)},
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == "digest: config error: config/digest.toml: config file not found"


def test_rank_weights_override_defaults_and_unknown_features_are_errors(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, "[rank.weights]\ninterest = 0.9\n"))
    assert settings.rank.weights["interest"] == 0.9
    assert settings.rank.weights["corroboration"] == 0.25  # the others keep their defaults
    with pytest.raises(ConfigError, match="rank.weights.charisma: unknown key"):
        load_settings(write(tmp_path, "[rank.weights]\ncharisma = 1\n"))
    with pytest.raises(ConfigError, match="must not be negative"):
        load_settings(write(tmp_path, "[rank.weights]\ninterest = -1\n"))
