"""Flask's JSON responses, encoded by orjson.

Every API answer is a JSON document; Flask's default provider (``json.dumps``
with a Python ``default`` hook) was a measurable part of a lookup's CPU. This
provider writes the same documents - compact, keys sorted, and
what ``json.dumps`` cannot encode handed to Flask's own fallback (dates as HTTP
dates, decimals and UUIDs as strings, dataclasses as dicts) - except that
non-ASCII text is written as UTF-8 rather than ``\\u`` escapes. Indented
output (debug mode) and reading JSON stay Flask's.
"""
from __future__ import annotations

from typing import Any

import orjson
from flask.json.provider import DefaultJSONProvider, _default

# Dates and dataclasses go to Flask's fallback, so they come out as Flask writes them.
_OPTIONS = (orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_NON_STR_KEYS
            | orjson.OPT_SORT_KEYS)


class OrjsonProvider(DefaultJSONProvider):

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        if set(kwargs) - {"separators"}:  # indent, sort_keys, ...: the standard library's
            return super().dumps(obj, **kwargs)
        try:
            return orjson.dumps(obj, default=_default, option=_OPTIONS).decode("utf-8")
        except TypeError:  # what orjson refuses (integers beyond 64 bits, lone surrogates): Flask's way
            return super().dumps(obj, **kwargs)
