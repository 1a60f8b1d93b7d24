"""The CLI: db upgrade, status, one clear line for user errors."""
from __future__ import annotations

from click.testing import CliRunner

from mdm.cli import main
from mdm.config import load_config


def test_db_upgrade_then_status(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MDM_DATABASE_URL", raising=False)
    monkeypatch.delenv("MDM_VAR_DIR", raising=False)
    runner = CliRunner()
    res = runner.invoke(main, ["db", "upgrade"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "var" / "mdm.sqlite").exists()  # the embedded default
    res = runner.invoke(main, ["status"])
    assert res.exit_code == 0, res.output
    assert "source records" in res.output and "last run: none" in res.output


def test_status_before_upgrade_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setenv("MDM_DATABASE_URL", f"sqlite:///{tmp_path / 'fresh.sqlite'}")
    res = CliRunner().invoke(main, ["status"])
    assert res.exit_code == 2
    assert res.output.strip().splitlines() == [
        "Error: the database schema is at nothing, not 0003: run `mdm db upgrade`"
    ]


def test_missing_config_file_is_one_clear_line(tmp_path):
    res = CliRunner().invoke(main, ["status", "--config", str(tmp_path / "nope.toml")])
    assert res.exit_code == 2
    assert "Traceback" not in res.output
    assert res.output.strip() == f"Error: configuration file {tmp_path / 'nope.toml'} does not exist"


def test_config_precedence(tmp_path, monkeypatch):
    cfg = tmp_path / "mdm.toml"
    cfg.write_text(
        '[store]\ndatabase_url = "sqlite:///from-file.sqlite"\n'
        '[[sources]]\nname = "library"\nconnector = "koha-csv"\npath = "x.csv"\n',
        encoding="utf-8",
    )
    monkeypatch.delenv("MDM_DATABASE_URL", raising=False)
    assert load_config(cfg).database_url == "sqlite:///from-file.sqlite"
    monkeypatch.setenv("MDM_DATABASE_URL", "postgresql://postgres@127.0.0.1/test")
    conf = load_config(cfg)
    assert conf.database_url == "postgresql://postgres@127.0.0.1/test"
    assert conf.source("library")["connector"] == "koha-csv"
    assert conf.base_dir == tmp_path


def test_bad_config_is_reported(tmp_path):
    cfg = tmp_path / "mdm.toml"
    cfg.write_text('[[sources]]\nname = "a"\nconnector = "koha-csv"\n[[sources]]\nname = "a"\nconnector = "x"\n')
    res = CliRunner().invoke(main, ["status", "--config", str(cfg)])
    assert res.exit_code == 2 and "source name 'a' is used twice" in res.output
