"""The access log: who looked up whom, through which client, for what purpose.

Required for social and health data (Information Management Act 906/2019,
Client Data Act 703/2023). The looked-up identifier is never written in
clear: ``identifier_digest`` is an HMAC-SHA256 of the *normalised* value under
a secret key, so an auditor holding the key can answer "was this HETU looked
up, by whom, when" by computing the digest of the HETU in question, while a
leaked log alone reveals nothing (a plain hash of a HETU could be reversed by
enumerating the few hundred million possible codes).
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path
from typing import Sequence

from sqlalchemy.orm import Session

from ..store import models as m

ACCESS_LOG_KEY_FILE = "access_log.key"
PURPOSE_MAX = 200  # access_log.purpose


def identifier_digest(key: bytes, normalised_value: str) -> str:
    """HMAC-SHA256 (hex) of a normalised identifier value.

    The type is deliberately not part of the digest: a HETU and the Kela card
    carrying it are the same value, and the auditor searches by value.
    """
    return hmac.new(key, normalised_value.encode("utf-8"), hashlib.sha256).hexdigest()


def clean_purpose(purpose: str | None) -> str | None:
    """The ``X-Purpose`` header, without control characters, cut to the column size."""
    if not purpose:
        return None
    text = "".join(ch for ch in purpose if ch.isprintable()).strip()
    return text[:PURPOSE_MAX] or None


def record_access(
    s: Session,
    *,
    endpoint: str,
    status_code: int,
    client_name: str | None = None,
    username: str | None = None,
    purpose: str | None = None,
    identifier_type: str | None = None,
    identifier_digest: str | None = None,
    golden_ids: Sequence[str] = (),
) -> m.AccessLogEntry:
    entry = m.AccessLogEntry(
        client_name=client_name,
        username=username,
        endpoint=endpoint[:100],
        purpose=clean_purpose(purpose),
        identifier_type=identifier_type,
        identifier_digest=identifier_digest,
        golden_ids=list(golden_ids),
        status_code=status_code,
    )
    s.add(entry)
    return entry


def load_or_create_key(path: Path, env_var: str | None = None, *, nbytes: int = 32) -> bytes:
    """A secret key from ``env_var`` or from ``path``, created once (mode 0600).

    Safe when several processes (gunicorn workers) start at once: the key is
    written to a private temporary file and hard-linked into place, which
    fails if another process won the race; then everyone reads the winner's.
    """
    if env_var and os.environ.get(env_var):
        return os.environ[env_var].encode("utf-8")
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(secrets.token_hex(nbytes) + "\n")
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_bytes().strip()
