"""What each line of a file export made at the last read, so that a line read again unchanged is not parsed again.

A nightly re-pull reads whole exports in which about 99 % of the lines are
byte for byte as they were; parsing, mapping and hashing them only to find each
record unchanged was most of the pull. The memo maps a digest of a line (with
its context) to the records that line made: ``(source id, raw hash, updated
at)`` each. A file connector asks :meth:`LineMemo.unchanged` before parsing a
line and :meth:`LineMemo.learn` after mapping one.

Why it cannot change what a read yields, only how fast it is:

* a hit is used only when the store holds every record of the line, not
  deleted, with exactly that raw hash - the check ``is_stored`` makes after
  parsing. Otherwise the line is parsed as without a memo;
* the digest covers the context that, besides the line, decides what records
  it makes (:meth:`LineMemo.context`): the connector kind and options, the
  CSV header, and the code of the connectors package. A new header, option or
  connector version misses every line once.

So a stale, foreign or damaged memo file costs a full parse, never a wrong
record. The file (in the var folder, next to the store's other working files)
is written whole to a temporary file and renamed: a format line, the SHA-256
of the body, and the body in ``marshal`` format (Python's own fast format for
plain data; read only after the digest matched). Duplicate ids, rejected rows and
watermarks are handled by the connector as before: a hit yields the same
source ids and update times the parse would.
"""
from __future__ import annotations

import hashlib
import json
import logging
import marshal
import os
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

log = logging.getLogger(__name__)

#: (source id, raw hash, updated at as ISO text or None) of each record a line made.
Entry = tuple[tuple[str, str, str | None], ...]
FORMAT = b"mdm-line-memo-1\n"
_code_digest: bytes | None = None


def _code_fingerprint() -> bytes:
    """Digest of the connectors package's code: a new version of any connector misses every memo."""
    global _code_digest
    if _code_digest is None:
        h = hashlib.sha256(FORMAT)
        for path in sorted(Path(__file__).resolve().parent.glob("*.py")):
            h.update(path.name.encode())
            h.update(path.read_bytes())
        _code_digest = h.digest()
    return _code_digest


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _from_iso(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


class LineMemo:
    """The memo of one source: what the last read learnt, and what this read learns.

    ``stored_hash(source_id)``: the raw hash the store holds for a live record
    (None: not stored, or deleted). ``raw_hash(raw)``: the pull's payload hash.
    """

    def __init__(self, previous: dict[bytes, Entry], stored_hash: Callable[[str], str | None],
                 raw_hash: Callable[[Any], str], file: Path | None = None) -> None:
        self.file = file  # where :meth:`save` writes by default
        self.previous = previous
        self.current: dict[bytes, Entry] = {}
        self.stored_hash = stored_hash
        self.raw_hash = raw_hash
        self.hits = 0
        #: Raw hashes made by :meth:`is_stored` since the last learn, and those of the last line learnt.
        self._pending: dict[str, str] = {}
        self._recent: dict[str, str] = {}

    # -- what connectors call ------------------------------------------------
    @staticmethod
    def context(kind: str, options: dict[str, Any], *parts: Sequence[str] | str) -> bytes:
        """The digest prefix of one file's lines: everything besides a line that decides its records."""
        h = hashlib.sha256(_code_fingerprint())
        h.update(json.dumps([kind, options, list(parts)], sort_keys=True, default=str).encode("utf-8"))
        return h.digest()

    @staticmethod
    def key(context: bytes, text: str) -> bytes:
        return hashlib.md5(context + text.encode("utf-8", "surrogatepass")).digest()

    def unchanged(self, key: bytes) -> list[tuple[str, datetime | None]] | None:
        """(source id, updated at) of the line's records when the store holds each of them as the line made it."""
        entry = self.previous.get(key)
        if entry is None:
            return None
        stored = self.stored_hash
        for sid, digest, _ in entry:
            if stored(sid) != digest:
                return None
        self.current[key] = entry
        self.hits += 1
        return [(sid, _from_iso(updated)) for sid, _, updated in entry]

    def first_id(self, key: bytes) -> str | None:
        """The source id of the first record the line made last time (a first pass's duplicate check)."""
        entry = self.previous.get(key)
        return entry[0][0] if entry else None

    def is_stored(self, source_id: str, raw: Any) -> bool:
        """``Connector.is_stored``, keeping the hash it makes for :meth:`learn`."""
        digest = self._pending[source_id] = self.raw_hash(raw)
        return self.stored_hash(source_id) == digest

    def learn(self, key: bytes, records: Iterable[tuple[str, Any, datetime | None]]) -> None:
        """The records (source id, raw, updated at) the line made, whether stored or not."""
        pending, self._pending = self._pending, {}
        entry = tuple((sid, pending.get(sid) or self.raw_hash(raw), _iso(updated)) for sid, raw, updated in records)
        if entry:  # a line that made no record is parsed every time (it is rare: blank, skipped)
            self.current[key] = entry
        self._recent = {sid: digest for sid, digest, _ in entry}

    def recent_hash(self, source_id: str) -> str | None:
        """The raw hash :meth:`learn` just made for a record of the last line (spares the pull making it again)."""
        return self._recent.get(source_id)

    # -- the file --------------------------------------------------------------
    @staticmethod
    def path(var_dir: Path, source_name: str) -> Path:
        name = hashlib.sha256(source_name.encode("utf-8")).hexdigest()[:24]
        return Path(var_dir) / "pull_memo" / f"{name}.memo"

    @staticmethod
    def load(path: Path) -> dict[bytes, Entry]:
        """The memo a read left; empty when there is none or it cannot be read (then every line is parsed)."""
        try:
            data = Path(path).read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            log.warning("ignoring the pull memo %s (%s)", Path(path).name, exc.__class__.__name__)
            return {}
        head, digest, body = data[:len(FORMAT)], data[len(FORMAT):len(FORMAT) + 32], data[len(FORMAT) + 32:]
        if head != FORMAT or hashlib.sha256(body).digest() != digest:
            # Checked before unmarshalling: marshal is only for data that Python itself wrote whole.
            log.warning("ignoring the pull memo %s (not a complete memo of this version)", Path(path).name)
            return {}
        memo = marshal.loads(body)
        return memo if isinstance(memo, dict) else {}

    def save(self, path: Path | None = None) -> None:
        """Write what this read learnt (lines no longer in the export are forgotten)."""
        path = path or self.file
        if path is None:
            raise ValueError("the memo has no file to be saved to")
        body = marshal.dumps(self.current)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        try:
            # Source ids are identifiers (a travel card's number): readable by the service user only.
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as fh:
                fh.write(FORMAT + hashlib.sha256(body).digest() + body)
            os.replace(tmp, path)
        except OSError as exc:  # a memo that cannot be written is only a slower next read
            log.warning("could not write the pull memo %s (%s)", path.name, exc)
            tmp.unlink(missing_ok=True)
