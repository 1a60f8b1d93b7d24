"""The connector protocol, the registry and small helpers shared by all connectors.

A connector reads one configured source (a ``[[sources]]`` table of the TOML
configuration) and yields :class:`~mdm._typing.SourceRecordIn` objects with the
values as the source wrote them, plus :class:`~mdm._typing.RejectedRow` objects
for rows it could not read (they go to quarantine; the rest of the source still
loads). Whole-source failures raise :class:`ConnectorError` with a one-line
message. Identifier and name normalisation is *not* done here (that is rules/);
connectors only decide identifier types and map source-specific codes such as
sex ``M``/``F`` to the canonical values.
"""
from __future__ import annotations

import abc
import os
import warnings
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator, Mapping
from urllib.parse import urlsplit

from mdm._typing import IdentifierIn, RejectedRow, Sex, SourceRecordIn
from mdm.errors import MdmError

from .line_memo import LineMemo

__all__ = [
    "CONNECTORS", "Connector", "ConnectorError", "ConnectorWarning", "StoredRecord", "make_connector",
    "clean", "map_sex", "parse_datetime", "parse_date", "add_identifier", "utc_key", "WatermarkTracker",
    "SeenIds",
]


class ConnectorError(MdmError):
    """The whole source cannot be read (missing file or column, bad encoding, HTTP failure)."""


class ConnectorWarning(UserWarning):
    """Something the operator should know, but the source still loaded (e.g. fallback encoding)."""


@dataclass
class StoredRecord:
    """A record the store already holds with exactly this payload (see :class:`Connector`, ``is_stored``).

    Yielded instead of a :class:`~mdm._typing.SourceRecordIn` when the caller
    said so: the row was read and checked as always, but not mapped again (the
    same payload was mapped when it was stored).
    """

    source_id: str
    raw: Any
    row_ref: str | None = None
    updated_at: datetime | None = None


#: kind -> connector class; filled by ``Connector.__init_subclass__`` when the
#: connector modules are imported (``connectors/__init__.py`` imports them all).
CONNECTORS: dict[str, type["Connector"]] = {}

# Option keys that would hold a literal secret. Secrets come only from
# environment variables named in the configuration (``password_env = "X"``).
_SECRET_KEYS = {"password", "secret", "client_secret", "token", "access_token", "api_key", "apikey"}


class Connector(abc.ABC):
    """Base class of all connectors.

    ``full_export`` True means the source delivers everything on every read, so a
    record missing from the export counts as deleted; False means an incremental
    source (records not returned are unchanged, not deleted).

    After :meth:`read` is exhausted, ``new_watermark`` holds the largest
    ``updated_at`` seen as an ISO string (or the previous watermark when nothing
    newer came), for the next incremental read. ``warnings`` collects the
    warnings issued during the read (they are also issued as
    :class:`ConnectorWarning`).

    ``is_stored`` may be set by the caller before :meth:`read` (a pull does):
    ``is_stored(source_id, raw)`` is True when the store holds that record with
    exactly that payload (``raw`` as the record would carry it). A connector that
    supports it then yields a :class:`StoredRecord` for such a record instead of
    mapping it again; everything else (rejected rows, duplicates, the watermark)
    stays as without it. Connectors that do not support it ignore it.
    """

    kind: ClassVar[str]
    full_export: ClassVar[bool]
    #: True for the file connectors that read with a line memo (see :meth:`attach_line_memo`).
    uses_line_memo: ClassVar[bool] = False
    #: True when the source's options may change ``full_export`` (it is then set per instance), so the
    #: connector kind alone does not say whether a pull of the source was a full export.
    full_export_option: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        kind = cls.__dict__.get("kind")
        if kind:
            CONNECTORS[kind] = cls

    def __init__(self, source_name: str, options: Mapping[str, Any], base_dir: Path) -> None:
        self.source_name = source_name
        self.options: dict[str, Any] = dict(options)
        self.base_dir = Path(base_dir)
        self.new_watermark: str | None = None
        self.warnings: list[str] = []
        self.is_stored: Callable[[str, Any], bool] | None = None
        #: Set with ``is_stored`` by a caller that keeps one (see connectors/line_memo.py): file
        #: connectors then skip parsing lines that made stored records last time.
        self.line_memo: LineMemo | None = None
        self._check_no_literal_secrets()

    def attach_line_memo(self, var_dir: Path, stored_hash: Callable[[str], str | None],
                         raw_hash: Callable[[Any], str]) -> LineMemo | None:
        """Read with the source's line memo from ``var_dir`` (it then answers ``is_stored`` too).

        None, and nothing changed, for a connector that reads no lines (an HTTP API).
        """
        if not self.uses_line_memo:
            return None
        path = LineMemo.path(var_dir, self.source_name)
        memo = self.line_memo = LineMemo(LineMemo.load(path), stored_hash, raw_hash, path)
        self.is_stored = memo.is_stored
        return memo

    @abc.abstractmethod
    def read(self, watermark: str | None) -> Iterator[SourceRecordIn | StoredRecord | RejectedRow]:
        """Yield the records of the source (all of them for a full export)."""

    # -- helpers for subclasses ---------------------------------------------
    def error(self, message: str) -> ConnectorError:
        """A ConnectorError whose message names the source."""
        return ConnectorError(f"source {self.source_name!r} ({self.kind}): {message}")

    def warn(self, message: str) -> None:
        text = f"source {self.source_name!r} ({self.kind}): {message}"
        self.warnings.append(text)
        warnings.warn(text, ConnectorWarning, stacklevel=3)

    def path_option(self, key: str = "path") -> Path:
        """The existing file or folder named by option ``key``, relative to the config folder."""
        value = self.options.get(key)
        if not value or not isinstance(value, str):
            raise self.error(f"option {key!r} (a file path) is required")
        path = Path(value).expanduser()
        if not path.is_absolute():
            path = self.base_dir / path
        if not path.exists():
            raise self.error(f"file not found: {path}")
        return path

    def number_option(self, key: str, default: float, *, integer: bool = False) -> Any:
        value = self.options.get(key, default)
        try:
            number = int(value) if integer else float(value)
        except (TypeError, ValueError):
            raise self.error(f"option {key!r} must be a number, not {value!r}") from None
        if number < 0:
            raise self.error(f"option {key!r} must not be negative")
        return number

    def env_option(self, key: str) -> str | None:
        """The value of the environment variable named by option ``key`` (None if no such option)."""
        var = self.options.get(key)
        if not var:
            return None
        value = os.environ.get(str(var))
        if value is None:
            raise self.error(f"environment variable {var} (named by option {key!r}) is not set")
        return value

    def _check_no_literal_secrets(self) -> None:
        for key in self.options:
            if key.lower() in _SECRET_KEYS:
                raise self.error(
                    f"option {key!r} must not hold a secret in the configuration; "
                    f"name an environment variable instead ({key}_env = \"VAR\")")
        url = self.options.get("url")
        if isinstance(url, str) and urlsplit(url).password:
            raise self.error("the url must not contain a password; use username_env/password_env")


def make_connector(source_name: str, options: Mapping[str, Any], base_dir: Path) -> Connector:
    """Build the connector named by ``options["connector"]`` for one configured source."""
    import connectors  # noqa: F401  - importing the package registers every connector

    kind = options.get("connector") or options.get("kind")
    known = ", ".join(sorted(CONNECTORS))
    if not kind:
        raise ConnectorError(f"source {source_name!r}: no connector given (known: {known})")
    cls = CONNECTORS.get(str(kind))
    if cls is None:
        raise ConnectorError(f"source {source_name!r}: unknown connector {kind!r} (known: {known})")
    return cls(source_name, options, Path(base_dir))


# ---------------------------------------------------------------------------
# Value helpers
# ---------------------------------------------------------------------------
def clean(value: Any) -> str | None:
    """Strip surrounding whitespace; empty (or None) becomes None. Inner text is kept as is."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


_SEX = {
    "m": "male", "male": "male", "mies": "male", "1": "male",
    "f": "female", "female": "female", "nainen": "female", "2": "female",
    "o": "other", "other": "other",
    "u": "unknown", "unknown": "unknown", "unspecified": "unknown", "0": "unknown", "9": "unknown",
}


def map_sex(value: Any, table: Mapping[str, str] | None = None) -> Sex | None:
    """Map a source's sex/gender code to male/female/other/unknown (None when empty).

    ``table`` (source value -> canonical) is consulted first, case-insensitively;
    an unrecognised non-empty code becomes "unknown" (the raw value stays in ``raw``).
    """
    text = clean(value)
    if text is None:
        return None
    if table:
        lowered = {str(k).strip().lower(): v for k, v in table.items()}
        if text.lower() in lowered:
            mapped = lowered[text.lower()]
            canonical = mapped if mapped in ("male", "female", "other", "unknown") else "unknown"
            return canonical  # type: ignore[return-value]
    return _SEX.get(text.lower(), "unknown")  # type: ignore[return-value]


def parse_datetime(value: Any) -> datetime | None:
    """Parse an ISO date or date-time (``2026-11-01``, ``2026-11-01 10:00:00``, ``...Z``); None if not."""
    text = clean(value)
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def parse_date(value: Any) -> date | None:
    parsed = parse_datetime(value)
    return parsed.date() if parsed else None


def add_identifier(target: list[IdentifierIn], type_: str, value: Any, **kwargs: Any) -> None:
    """Append an identifier unless the value is empty or the same (type, value) is already there."""
    text = clean(value)
    if text is None:
        return
    if any(i.type == type_ and i.value == text for i in target):
        return
    target.append(IdentifierIn(type=type_, value=text, **kwargs))


def utc_key(value: datetime) -> datetime:
    """A sort key making aware and naive times comparable (aware ones converted to naive UTC).

    Why: one source may mix "Z" and naive timestamps; comparing those raises TypeError.
    """
    return value.astimezone(timezone.utc).replace(tzinfo=None) if value.tzinfo else value


class WatermarkTracker:
    """Tracks the largest ``updated_at`` seen; aware and naive times compare via UTC."""

    def __init__(self, previous: str | None) -> None:
        self.previous = previous
        self._best: datetime | None = None
        self._best_key: datetime | None = None  # utc_key(self._best)

    def see(self, value: datetime | None) -> None:
        if value is None:
            return
        key = utc_key(value)
        if self._best_key is None or key > self._best_key:
            self._best, self._best_key = value, key

    def result(self) -> str | None:
        if self._best is None:
            return self.previous
        prev = parse_datetime(self.previous)
        if prev is not None and utc_key(prev) >= utc_key(self._best):
            return self.previous
        return self._best.isoformat()


def memo_records(hit: list[tuple[str, datetime | None]], ref: str, tracker: WatermarkTracker) -> list[StoredRecord]:
    """The stored records a line memo hit stands for (see line_memo.py); their update times are seen."""
    out = []
    for source_id, updated in hit:
        tracker.see(updated)
        out.append(StoredRecord(source_id, None, ref, updated))
    return out


class SeenIds:
    """Duplicate guard for paged APIs, where a record that changes while we page shows up twice.

    The first copy has already been yielded (and the pull keeps the first copy
    of an id), so a repeat is reported as a duplicate; when the repeat is newer,
    :meth:`watermark` stays below it so the next incremental read
    fetches the newer version again instead of losing it.
    """

    def __init__(self) -> None:
        self._seen: dict[str, tuple[datetime | None, str]] = {}
        self._cap: datetime | None = None

    def check(self, source_id: str, updated_at: datetime | None, ref: str) -> str | None:
        """None for a first sighting, else the rejection reason."""
        if source_id not in self._seen:
            self._seen[source_id] = (updated_at, ref)
            return None
        first_updated, first_ref = self._seen[source_id]
        if updated_at is not None and (first_updated is None or utc_key(updated_at) > utc_key(first_updated)):
            floor = first_updated or datetime.min
            if self._cap is None or utc_key(floor) < utc_key(self._cap):
                self._cap = floor
        return f"duplicate source id {source_id} (kept {first_ref})"

    def watermark(self, tracker: WatermarkTracker) -> str | None:
        result = tracker.result()
        if self._cap is None:
            return result
        current = parse_datetime(result)
        if self._cap == datetime.min:
            return tracker.previous  # the first copy had no timestamp: start again from the old one
        if current is None or utc_key(self._cap) < utc_key(current):
            return self._cap.isoformat()
        return result
