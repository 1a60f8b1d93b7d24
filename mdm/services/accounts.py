"""Steward UI users and REST API clients.

Users log in with a password hashed by argon2 (memory-hard: passwords are
low-entropy and must resist offline guessing). API clients authenticate with a
generated key; keys are high-entropy, so a fast SHA-256 of the key is enough
to store them, and the key's first characters (``key_prefix``) find the row
without scanning hashes. The plaintext key is shown once and never stored.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any, Iterable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from mdm._typing import IDENTIFIER_TYPES

from ..errors import MdmError
from ..store import models as m
from ..store.models import utcnow

ROLES = ("viewer", "steward", "admin")
ATTRIBUTE_GROUPS = ("identity", "contact", "address", "health")
#: Types a client may look up by. ``temporary_id`` and ``other`` are not
#: lookup keys: temporary codes are looked up as ``hetu`` (see lookup.py).
LOOKUP_TYPES: tuple[str, ...] = tuple(
    t for t in IDENTIFIER_TYPES if t not in ("temporary_id", "other")
) + ("source_record",)

MIN_PASSWORD_LENGTH = 12
KEY_MARKER = "mdmk_"  # makes a leaked key recognisable to secret scanners
KEY_PREFIX_LENGTH = len(KEY_MARKER) + 8  # fits api_client.key_prefix (16)

_hasher = PasswordHasher()
# Verified when the user does not exist, so a login for an unknown name takes
# as long as one for a known name (no user enumeration by timing).
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AccountError(MdmError):
    pass


# --------------------------------------------------------------------------
# Scopes
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class Scopes:
    """What one API client may do and see (``api_client.scopes``)."""

    identifier_types: frozenset[str] | None = frozenset()  # None = all types
    attribute_groups: frozenset[str] = frozenset()
    hetu: bool = False  # HETU values in clear (otherwise masked)
    resolve: bool = False
    persist_source: str | None = None  # resolve may store records as this source

    def may_lookup(self, type_: str) -> bool:
        return self.identifier_types is None or type_ in self.identifier_types

    def to_json(self) -> dict[str, Any]:
        return {
            "identifier_types": "all" if self.identifier_types is None else sorted(self.identifier_types),
            "attribute_groups": sorted(self.attribute_groups),
            "hetu": self.hetu,
            "resolve": self.resolve,
            "persist_source": self.persist_source,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Scopes:
        # Anything missing or malformed grants nothing: fail closed.
        data = data or {}
        types = data.get("identifier_types")
        groups = data.get("attribute_groups")
        return cls(
            identifier_types=None if types == "all" else frozenset(
                t for t in (types if isinstance(types, list) else []) if t in LOOKUP_TYPES
            ),
            attribute_groups=frozenset(
                g for g in (groups if isinstance(groups, list) else []) if g in ATTRIBUTE_GROUPS
            ),
            hetu=data.get("hetu") is True,
            resolve=data.get("resolve") is True,
            persist_source=data.get("persist_source") if isinstance(data.get("persist_source"), str) else None,
        )

    def words(self) -> str:
        """The scope words that give these scopes (for listings)."""
        out = ["lookup:*"] if self.identifier_types is None else [f"lookup:{t}" for t in sorted(self.identifier_types)]
        out += [f"attrs:{g}" for g in sorted(self.attribute_groups)]
        out += [w for w, on in (("hetu", self.hetu), ("resolve", self.resolve)) if on]
        if self.persist_source:
            out.append(f"persist:{self.persist_source}")
        return ",".join(out) or "(none)"


ALL_SCOPES = Scopes(None, frozenset(ATTRIBUTE_GROUPS), hetu=True, resolve=True)
SCOPE_HELP = (
    "all | comma-separated words: lookup:TYPE (" + ", ".join(LOOKUP_TYPES) + "), lookup:*, "
    "attrs:GROUP (" + ", ".join(ATTRIBUTE_GROUPS) + "), attrs:*, hetu, resolve, persist:SOURCE"
)


def parse_scopes(text: str) -> Scopes:
    """Parse scope words (``lookup:phone,attrs:contact,hetu``) or ``all``."""
    words = [w.strip() for w in text.split(",") if w.strip()]
    if not words:
        raise AccountError(f"no scopes given; expected {SCOPE_HELP}")
    if words == ["all"]:
        return ALL_SCOPES
    types: set[str] | None = set()
    groups: set[str] = set()
    flags = {"hetu": False, "resolve": False}
    persist: str | None = None
    for word in words:
        kind, _, arg = word.partition(":")
        if word in flags:
            flags[word] = True
        elif kind == "lookup" and arg == "*":
            types = None
        elif kind == "lookup" and arg in LOOKUP_TYPES:
            if types is not None:
                types.add(arg)
        elif kind == "attrs" and arg == "*":
            groups.update(ATTRIBUTE_GROUPS)
        elif kind == "attrs" and arg in ATTRIBUTE_GROUPS:
            groups.add(arg)
        elif kind == "persist" and arg:
            persist = arg
        else:
            raise AccountError(f"unknown scope {word!r}; expected {SCOPE_HELP}")
    return Scopes(
        None if types is None else frozenset(types), frozenset(groups),
        hetu=flags["hetu"], resolve=flags["resolve"], persist_source=persist,
    )


# --------------------------------------------------------------------------
# Users
# --------------------------------------------------------------------------
def _audit(s: Session, actor: str, action: str, target_type: str, target_id: str, **details: Any) -> None:
    s.add(m.AuditEvent(actor=actor, action=action, target_type=target_type, target_id=target_id,
                       details=details))


def create_user(s: Session, username: str, password: str, role: str, *, actor: str = "cli") -> m.AppUser:
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    if not username or len(username) > 100:
        raise AccountError("a user name must have 1 to 100 characters")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if s.scalar(select(m.AppUser.id).where(m.AppUser.username == username)) is not None:
        raise AccountError(f"user {username!r} already exists")
    user = m.AppUser(username=username, password_hash=_hasher.hash(password), role=role)
    s.add(user)
    _audit(s, actor, "user.create", "app_user", username, role=role)
    s.flush()
    return user


def get_user(s: Session, username: str) -> m.AppUser:
    user = s.scalar(select(m.AppUser).where(m.AppUser.username == username))
    if user is None:
        raise AccountError(f"no user named {username!r}")
    return user


def disable_user(s: Session, username: str, *, actor: str = "cli") -> None:
    get_user(s, username).disabled = True
    _audit(s, actor, "user.disable", "app_user", username)


def authenticate(s: Session, username: str, password: str) -> m.AppUser | None:
    """The enabled user with this name and password, or None."""
    user = s.scalar(select(m.AppUser).where(m.AppUser.username == username))
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or user.disabled:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        # Parameters were raised since the hash was made: upgrade it now that we know the password.
        user.password_hash = _hasher.hash(password)
    user.last_login_at = utcnow()
    return user


# --------------------------------------------------------------------------
# API clients
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class ClientInfo:
    """An authenticated API client, detached from any session (cacheable)."""

    id: int
    name: str
    scopes: Scopes
    rate_limit_per_minute: int


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_client(
    s: Session, name: str, scopes: Scopes, *, rate_limit_per_minute: int = 6000,
    source: str | None = None, actor: str = "cli",
) -> str:
    """Create an API client and return its key (shown once, stored only as a hash)."""
    if not name or len(name) > 100:
        raise AccountError("a client name must have 1 to 100 characters")
    if s.scalar(select(m.ApiClient.id).where(m.ApiClient.name == name)) is not None:
        raise AccountError(f"API client {name!r} already exists")
    if rate_limit_per_minute < 1:
        raise AccountError("the rate limit must be at least 1 request a minute")
    source_id = None
    if source is not None:
        source_id = s.scalar(select(m.SourceSystem.id).where(m.SourceSystem.name == source))
        if source_id is None:
            raise AccountError(f"no source system named {source!r} in the store")
    key = KEY_MARKER + secrets.token_urlsafe(32)
    s.add(m.ApiClient(
        name=name, key_prefix=key[:KEY_PREFIX_LENGTH], key_hash=key_hash(key), scopes=scopes.to_json(),
        source_system_id=source_id, rate_limit_per_minute=rate_limit_per_minute,
    ))
    _audit(s, actor, "client.create", "api_client", name, scopes=scopes.to_json())
    s.flush()
    return key


def revoke_client(s: Session, name: str, *, actor: str = "cli") -> None:
    client = s.scalar(select(m.ApiClient).where(m.ApiClient.name == name))
    if client is None:
        raise AccountError(f"no API client named {name!r}")
    if client.revoked_at is None:
        client.revoked_at = utcnow()
        _audit(s, actor, "client.revoke", "api_client", name)


def clients_by_prefix(s: Session, prefix: str) -> list[tuple[str, ClientInfo]]:
    """(key hash, client) of the unrevoked clients whose key starts with ``prefix``."""
    rows = s.execute(
        select(m.ApiClient.id, m.ApiClient.name, m.ApiClient.key_hash, m.ApiClient.scopes,
               m.ApiClient.rate_limit_per_minute)
        .where(m.ApiClient.key_prefix == prefix, m.ApiClient.revoked_at.is_(None))
    ).all()
    return [(r.key_hash, ClientInfo(r.id, r.name, Scopes.from_json(r.scopes), r.rate_limit_per_minute))
            for r in rows]


def match_key(key: str, candidates: Iterable[tuple[str, ClientInfo]]) -> ClientInfo | None:
    """The candidate whose stored hash is the key's, compared in constant time."""
    digest = key_hash(key)
    found = None
    for stored, info in candidates:
        # No early exit: every candidate is compared, whatever matched first.
        if hmac.compare_digest(stored, digest):
            found = info
    return found


def authenticate_client(s: Session, key: str) -> ClientInfo | None:
    if not key.startswith(KEY_MARKER) or len(key) <= KEY_PREFIX_LENGTH:
        return None
    return match_key(key, clients_by_prefix(s, key[:KEY_PREFIX_LENGTH]))
