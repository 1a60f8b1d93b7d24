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
        "Error: the database schema is at nothing, not 0005: run `mdm db upgrade`"
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


def test_demo_run_without_serving(tmp_path, monkeypatch):
    """What `make demo` runs, minus the server: data, reconcile, a demo login."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MDM_DATABASE_URL", raising=False)
    monkeypatch.setenv("MDM_VAR_DIR", str(tmp_path / "var"))
    res = CliRunner().invoke(main, ["demo-run", "--persons", "150", "--out", "demo", "--no-serve"])
    assert res.exit_code == 0, res.output
    assert "succeeded" in res.output
    login = res.output.strip().splitlines()[-1]
    assert login.startswith("demo login: demo / ") and len(login.split(" / ")[1]) >= 12
    # A second run reuses the data and the login, and changes nothing.
    again = CliRunner().invoke(main, ["demo-run", "--persons", "150", "--out", "demo", "--no-serve"])
    assert again.exit_code == 0, again.output
    assert again.output.strip().splitlines()[-1] == login
    assert "0 created, 0 updated" in again.output


def test_every_command_is_loaded_by_the_name_it_has():
    """Commands load on demand: the name -> module map must say exactly what each module defines."""
    import importlib

    from mdm.cli import COMMAND_MODULES

    ctx = main.make_context("mdm", ["--help"], resilient_parsing=True)
    for name in COMMAND_MODULES:
        assert main.get_command(ctx, name) is not None, name
    for module in set(COMMAND_MODULES.values()):
        importlib.import_module(f"mdm.cli.{module}")
    assert set(main.commands) == set(COMMAND_MODULES)
    assert {name: cmd.callback.__module__.rsplit(".", 1)[1] for name, cmd in main.commands.items()} == COMMAND_MODULES
