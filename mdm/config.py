"""Configuration: a TOML file (default ``mdm.toml``) plus environment overrides.

Precedence for the database: ``MDM_DATABASE_URL`` > ``[store] database_url`` >
a SQLite file in the var folder. Credentials never live in the file: sources
name environment variables instead (``username_env = "KOHA_USER"``).
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError

DEFAULT_CONFIG = "mdm.toml"


@dataclass
class Config:
    path: Path | None
    base_dir: Path
    var_dir: Path
    database_url: str
    sources: list[dict[str, Any]] = field(default_factory=list)
    matching: dict[str, Any] = field(default_factory=dict)
    pull: dict[str, Any] = field(default_factory=dict)
    api: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)

    def source(self, name: str) -> dict[str, Any]:
        for src in self.sources:
            if src["name"] == name:
                return src
        known = ", ".join(s["name"] for s in self.sources) or "none"
        raise ConfigError(f"no source named {name!r} in the configuration (known: {known})")


def _check_sources(sources: Any, path: Path | None) -> list[dict[str, Any]]:
    if not isinstance(sources, list):
        raise ConfigError(f"{path}: [[sources]] must be a list of tables")
    seen: set[str] = set()
    for i, src in enumerate(sources, 1):
        for key in ("name", "connector"):
            if not isinstance(src.get(key), str) or not src[key]:
                raise ConfigError(f"{path}: source #{i} has no {key!r}")
        if src["name"] in seen:
            raise ConfigError(f"{path}: source name {src['name']!r} is used twice")
        seen.add(src["name"])
    return sources


def load_config(path: str | os.PathLike[str] | None = None, *, required: bool = False) -> Config:
    """Load the configuration; with no file, the embedded defaults (SQLite in ./var)."""
    cfg_path = Path(path) if path else Path(DEFAULT_CONFIG)
    data: dict[str, Any] = {}
    if cfg_path.exists():
        try:
            data = tomllib.loads(cfg_path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{cfg_path}: not valid TOML: {exc}") from None
        base_dir = cfg_path.resolve().parent
    elif path is not None or required:
        raise ConfigError(f"configuration file {cfg_path} does not exist")
    else:
        cfg_path, base_dir = None, Path.cwd()

    store = data.get("store", {})
    var_dir = Path(os.environ.get("MDM_VAR_DIR") or store.get("var_dir") or "var")
    if not var_dir.is_absolute():
        var_dir = (base_dir / var_dir).resolve()
    url = os.environ.get("MDM_DATABASE_URL") or store.get("database_url")
    if not url:
        url = f"sqlite:///{var_dir / 'mdm.sqlite'}"
    return Config(
        path=cfg_path,
        base_dir=base_dir,
        var_dir=var_dir,
        database_url=url,
        sources=_check_sources(data.get("sources", []), cfg_path),
        matching=dict(data.get("matching", {})),
        pull=dict(data.get("pull", {})),
        api=dict(data.get("api", {})),
        raw=data,
    )
