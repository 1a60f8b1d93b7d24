"""Safe, streaming reading of text exports (CSV and NDJSON).

What this guards against, because city exports really do it:

* **Wrong encoding.** Bytes are decoded line by line, strictly, so a Latin-1 /
  cp1252 file read as UTF-8 fails with the exact byte offset instead of turning
  into replacement characters. With ``fallback_encoding`` the file is re-read in
  that encoding and a warning says so.
* **Mojibake.** A UTF-8 file read as Latin-1 decodes "fine" into ``Ã¤``/``Ã¶``;
  such sequences are detected and the source fails instead of storing them.
* **Missing columns**: one error naming the missing column(s) and the file.
* **Malformed rows** (wrong field count, broken quoting, empty id) become
  :class:`RejectedRow` objects ``"<file>:<line>"`` with the raw line; the rest loads.
  An unbalanced quote is not allowed to swallow the following rows.
* **Duplicate ids**: the *later* row wins (exports append newer versions);
  each earlier row is rejected as ``duplicate source id X (kept row N)``.

Files are read in two streaming passes: the first validates the encoding,
the header and collects ``id -> last line`` (so nothing is yielded from a file
that turns out to be undecodable), the second yields rows. Memory is one small
dict entry per id, never the whole file.
"""
from __future__ import annotations

import codecs
import csv
import re
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any, Callable, Iterator, Sequence, TypeVar

from mdm._typing import RejectedRow, SourceRecordIn

from .base import Connector, ConnectorError, StoredRecord, WatermarkTracker, memo_records
from .line_memo import LineMemo

T = TypeVar("T")
Opener = Callable[[], IO[bytes]]

# The second character of a UTF-8 sequence (a continuation byte 0x80-0xBF) seen
# through Latin-1 (U+0080-U+00BF) or cp1252 (the letters cp1252 puts at 0x80-0x9F),
# after "Â"/"Ã" (lead bytes 0xC2/0xC3 that encode ä, ö, å, Ä, Ö, Å, é, ü ...).
_CP1252_HIGH = "€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ"
MOJIBAKE_RE = re.compile("[\u00c2\u00c3][\u0080-\u00bf" + _CP1252_HIGH + "]")

#: A quoted field may span lines, but a record longer than this is treated as
#: an unbalanced quote (so it cannot swallow the rest of a 400k-row file).
MAX_RECORD_LINES = 100


class _DecodeFailure(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TextFile:
    """A text file decoded line by line, strictly, with an optional fallback encoding.

    ``name`` is used in messages and row references (``name:line``).
    """

    def __init__(self, name: str, opener: Opener, options: dict[str, Any],
                 make_error: Callable[[str], ConnectorError], warn: Callable[[str], None]) -> None:
        self.name = name
        self.opener = opener
        self.make_error = make_error
        self.warn = warn
        self.encoding = self._codec(str(options.get("encoding") or "utf-8"))
        fallback = options.get("fallback_encoding")
        self.fallback = self._codec(str(fallback)) if fallback else None

    def _codec(self, encoding: str) -> str:
        try:
            name = codecs.lookup(encoding).name
        except LookupError:
            raise self.make_error(f"unknown encoding {encoding!r}") from None
        if name.startswith(("utf-16", "utf-32")):
            # Why: lines are split on the byte b"\n", which is only safe for ASCII-compatible codecs.
            raise self.make_error(f"encoding {encoding!r} is not supported; convert the file to UTF-8")
        return name

    def lines(self) -> Iterator[tuple[int, str]]:
        """Yield ``(line number, text)`` with line endings kept (the csv module needs them)."""
        utf8 = self.encoding in ("utf-8", "utf-8-sig")
        codec = "utf-8" if utf8 else self.encoding
        offset = 0
        try:
            fh = self.opener()
        except OSError as exc:
            raise self.make_error(f"cannot open {self.name}: {exc.strerror or exc}") from None
        with fh:
            for number, data in enumerate(fh, 1):
                start = 0
                if number == 1 and data.startswith(codecs.BOM_UTF8):
                    if not utf8:
                        raise self.make_error(
                            f"{self.name} starts with a UTF-8 byte-order mark but encoding = "
                            f"\"{self.encoding}\" is configured; set encoding = \"utf-8\"")
                    start = len(codecs.BOM_UTF8)
                try:
                    text = data[start:].decode(codec)
                except UnicodeDecodeError as exc:
                    raise _DecodeFailure(
                        f"{self.name} is not valid {self.encoding} at byte {offset + start + exc.start} "
                        f"(line {number}); set encoding = \"latin-1\" (or \"cp1252\") for this source, "
                        f"or fallback_encoding = \"latin-1\" to fall back automatically") from None
                hit = MOJIBAKE_RE.search(text)
                if hit:
                    raise self.make_error(
                        f"{self.name} line {number} contains {hit.group()!r}, UTF-8 text decoded as "
                        f"{self.encoding} (mojibake); set encoding = \"utf-8\" for this source")
                offset += len(data)
                yield number, text

    def scan(self, consume: Callable[[Iterator[tuple[int, str]]], T]) -> T:
        """Run a complete first pass; on a decode failure switch to ``fallback_encoding`` once."""
        try:
            return consume(self.lines())
        except _DecodeFailure as failure:
            if not self.fallback or self.fallback == self.encoding:
                raise self.make_error(failure.message) from None
            self.warn(f"{failure.message.split(';')[0]}; re-reading it as {self.fallback} "
                      f"(fallback_encoding)")
            self.encoding = self.fallback
            try:
                return consume(self.lines())
            except _DecodeFailure as again:
                raise self.make_error(again.message) from None

    def checked_lines(self) -> Iterator[tuple[int, str]]:
        """Lines for the second pass (the encoding was settled by :meth:`scan`)."""
        try:
            yield from self.lines()
        except _DecodeFailure as failure:  # the file changed between the passes
            raise self.make_error(failure.message) from None


@dataclass
class CsvRow:
    """One well-formed CSV record: values by (stripped) column name."""

    line: int
    raw: str
    values: dict[str, str]
    ref: str

    def get(self, column: str | None) -> str | None:
        """The stripped value of ``column``; None when empty or the column is absent."""
        if not column:
            return None
        value = self.values.get(column)
        if value is None:
            return None
        return value.strip() or None


@dataclass
class _Record:
    line: int
    raw: str
    fields: list[str] | None
    error: str | None
    #: What the line memo knew of the line (then it was not split): its source id in the first
    #: pass, its stored records in the second.
    known: Any = None


@dataclass
class KnownRow:
    """A row the line memo recognised: every record it made last time is stored as it made it."""

    line: int
    ref: str
    records: list[tuple[str, datetime | None]]  # (source id, updated at)


class CsvFile:
    """A CSV export with a header row, validated and deduplicated on ``id_column``."""

    def __init__(self, name: str, opener: Opener, options: dict[str, Any], *,
                 required: Sequence[str], id_column: str | None,
                 make_error: Callable[[str], ConnectorError], warn: Callable[[str], None]) -> None:
        self.text = TextFile(name, opener, options, make_error, warn)
        self.name = name
        self.make_error = make_error
        self.required = list(required)
        self.id_column = id_column
        delimiter = options.get("delimiter", ",")
        if delimiter in ("\\t", "tab"):
            delimiter = "\t"
        if not isinstance(delimiter, str) or len(delimiter) != 1:
            raise make_error(f"option 'delimiter' must be one character, not {delimiter!r}")
        self.delimiter = delimiter
        # Most lines hold no quote: those are split without the csv module (same fields).
        self._split_ok = delimiter not in '"\r\n\x00'
        self._field_limit = csv.field_size_limit()
        self.header: list[str] = []
        self._id_index: int | None = None
        self._keep: dict[str, int] = {}
        self.memo: LineMemo | None = None
        self.memo_context = b""
        self._hooks: tuple[Callable[[int, str], Any], Callable[[int, str], Any]] | None = None
        self._memo_scope: tuple[str, dict[str, Any]] = ("", {})

    def use_memo(self, memo: LineMemo, kind: str, options: dict[str, Any]) -> None:
        """Recognise quote-free lines the memo knows without splitting them (see connectors/line_memo.py)."""
        self.memo, self._memo_scope = memo, (kind, options)

    # -- parsing --------------------------------------------------------------
    def _parse(self, texts: list[str]) -> tuple[list[str] | None, str | None]:
        try:
            rows = list(csv.reader(texts, delimiter=self.delimiter, quotechar='"'))
        except csv.Error as exc:
            return None, f"unparseable CSV: {exc}"
        if len(rows) > 1:
            return None, "unparseable CSV: unbalanced quotes"
        return (rows[0] if rows else []), None

    def _split(self, text: str) -> list[str] | None:
        """The fields of one line without quotes, as ``_parse`` gives them; None: ask ``_parse``."""
        body = text[:-1] if text.endswith("\n") else text
        if body.endswith("\r"):
            body = body[:-1]
        if not self._split_ok or "\r" in body or "\x00" in body or len(body) > self._field_limit:
            return None
        return body.split(self.delimiter) if body else []

    def _records(self, lines: Iterator[tuple[int, str]],
                 known: Callable[[int, str], Any] | None = None) -> Iterator[_Record]:
        """Assemble physical lines into CSV records (quoted fields may span lines).

        ``known(line number, text)``: asked, once the header is read, of each
        quote-free line (which is a whole record); what it answers other than
        None goes into the record instead of the fields.
        """
        pending: deque[tuple[int, str]] = deque()

        def take() -> tuple[int, str] | None:
            return pending.popleft() if pending else next(lines, None)

        while (first := take()) is not None:
            quotes = first[1].count('"')
            if not quotes:
                if known is not None and self.header:
                    raw = first[1].rstrip("\r\n")
                    answer = known(first[0], raw)
                    if answer is not None:
                        yield _Record(first[0], raw, None, None, answer)
                        continue
                split = self._split(first[1])
                if split is not None:
                    yield _Record(first[0], first[1].rstrip("\r\n"), split, None)
                    continue
            chunk = [first]
            while quotes % 2 and len(chunk) < MAX_RECORD_LINES:
                more = take()
                if more is None:
                    break
                chunk.append(more)
                quotes += more[1].count('"')
            fields, error = self._parse([t for _, t in chunk])
            ncols = len(self.header)
            wrong_width = bool(ncols) and fields is not None and len(fields) != ncols
            if len(chunk) > 1 and (error or quotes % 2 or wrong_width):
                # Why: a stray quote must cost one row, not every row after it.
                pending.extendleft(reversed(chunk[1:]))
                chunk = [first]
                fields, error = self._parse([first[1]])
                if fields is not None and first[1].count('"') % 2 and len(fields) != ncols:
                    # A lone quote inside a field (O"Brien) parses fine and is kept; one
                    # that opens a field that never closes is reported as such.
                    fields, error = None, "unparseable CSV: unbalanced quotes"
            raw = "".join(t for _, t in chunk).rstrip("\r\n")
            yield _Record(first[0], raw, fields, error)

    def _read_header(self, records: Iterator[_Record]) -> None:
        for rec in records:
            if rec.fields is None:
                raise self.make_error(f"{self.name}: cannot parse the header row: {rec.error}")
            if not any(f.strip() for f in rec.fields):
                continue  # leading blank lines
            header = [f.strip() for f in rec.fields]
            dupes = sorted({h for h in header if header.count(h) > 1 and h})
            if dupes:
                raise self.make_error(f"{self.name}: duplicate column(s) in header: {', '.join(dupes)}")
            missing = [c for c in self.required if c not in header]
            if missing:
                plural = "s" if len(missing) > 1 else ""
                raise self.make_error(
                    f"{self.name}: missing required column{plural} {', '.join(repr(c) for c in missing)} "
                    f"(header has: {', '.join(header)})")
            self.header = header
            self._id_index = header.index(self.id_column) if self.id_column in header else None
            return
        raise self.make_error(f"{self.name} is empty (no header row)")

    def _classify(self, rec: _Record) -> tuple[str | None, str | None]:
        """(source id, rejection reason) for one record; blank records give (None, None)."""
        fields = rec.fields
        if fields is None:
            return None, rec.error
        if not "".join(fields).strip():  # only blank fields
            return None, None
        if len(fields) != len(self.header):
            return None, f"expected {len(self.header)} fields, found {len(fields)}"
        if self.id_column is None:
            return "", None
        index = self._id_index if self._id_index is not None else self.header.index(self.id_column)
        source_id = fields[index].strip()
        if not source_id:
            return None, f"empty {self.id_column}"
        return source_id, None

    # -- the two passes -------------------------------------------------------
    def _memo_hooks(self) -> tuple[Callable[[int, str], Any], Callable[[int, str], Any]] | None:
        """(first pass, second pass) questions to the line memo about a quote-free line."""
        memo = self.memo
        if memo is None:
            return None
        key = memo.key

        # The first pass's digests of known lines, for the second pass: with Python's hash of the
        # text, which says (far cheaper than a digest) whether the line is still the same text.
        keys: dict[int, tuple[int, bytes]] = {}

        def first(number: int, raw: str) -> str | None:
            # The id the line's record had (the id column's value, as _classify takes it).
            line_key = key(self.memo_context, raw)
            source_id = memo.first_id(line_key)
            if source_id is not None:
                keys[number] = (hash(raw), line_key)
            return source_id

        def second(number: int, raw: str) -> list[tuple[str, datetime | None]] | None:
            known = keys.pop(number, None)
            if known is None or known[0] != hash(raw):
                return None  # not known, or the file changed between the passes
            line_key = known[1]
            source_id = memo.first_id(line_key)
            if source_id is None or self._keep.get(source_id) != number:
                return None  # a duplicate, to be rejected as such
            return memo.unchanged(line_key)

        return first, second

    def _first_pass(self, lines: Iterator[tuple[int, str]]) -> None:
        self.header, self._keep = [], {}
        hooks = self._hooks
        records = self._records(lines, hooks[0] if hooks else None)
        self._read_header(records)
        if self.memo is not None:
            self.memo_context = self.memo.context(*self._memo_scope, self.header)
        keep: dict[str, int] = {}
        for rec in records:
            if rec.known is not None:
                keep[rec.known] = rec.line
                continue
            source_id, reason = self._classify(rec)
            if source_id:
                keep[source_id] = rec.line  # later rows overwrite: the last occurrence wins
        self._keep = keep

    def rows(self) -> Iterator[CsvRow | RejectedRow | KnownRow]:
        """Yield well-formed rows and rejected rows, in file order (and, with a memo, known rows)."""
        hooks = self._hooks = self._memo_hooks()
        self.text.scan(self._first_pass)
        records = self._records(self.text.checked_lines(), hooks[1] if hooks else None)
        header, self.header = self.header, []
        for rec in records:  # skip to the header again (the same leading blank lines)
            if rec.fields is not None and any(f.strip() for f in rec.fields):
                break
        self.header = header
        for rec in records:
            ref = f"{self.name}:{rec.line}"
            if rec.known is not None:
                yield KnownRow(rec.line, ref, rec.known)
                continue
            source_id, reason = self._classify(rec)
            if reason:
                yield RejectedRow(row_ref=ref, reason=reason, raw=rec.raw)
                continue
            if source_id is None:
                continue
            kept = self._keep.get(source_id, rec.line)
            if self.id_column and kept != rec.line:
                yield RejectedRow(row_ref=ref, reason=f"duplicate source id {source_id} (kept row {kept})",
                                  raw=rec.raw)
                continue
            assert rec.fields is not None
            yield CsvRow(rec.line, rec.raw, dict(zip(header, rec.fields)), ref)


class SingleCsvConnector(Connector):
    """A connector for one CSV export: reading, quarantine and watermark in one place.

    Subclasses name their required columns and id column and turn a row into a record.
    """

    required: tuple[str, ...] = ()
    id_column: str = ""
    uses_line_memo = True

    def csv_required(self) -> Sequence[str]:
        return self.required

    def csv_id_column(self) -> str:
        return self.id_column

    def to_record(self, row: CsvRow) -> SourceRecordIn:  # pragma: no cover - abstract
        raise NotImplementedError

    def identity(self, row: CsvRow) -> tuple[str, dict[str, Any], datetime | None] | None:
        """(source id, raw, updated at) of the record ``to_record`` makes of ``row``, cheaply.

        None (the default): the connector does not tell, so every row is mapped
        (``is_stored`` is not used).
        """
        return None

    def read(self, watermark: str | None) -> Iterator[SourceRecordIn | StoredRecord | RejectedRow]:
        path = self.path_option()
        csv_file = CsvFile(path.name, lambda: path.open("rb"), self.options, required=self.csv_required(),
                           id_column=self.csv_id_column(), make_error=self.error, warn=self.warn)
        tracker = WatermarkTracker(watermark)
        is_stored = self.is_stored
        # Only a connector that tells a row's identity takes stored records as they are.
        memo = self.line_memo if is_stored is not None and type(self).identity is not SingleCsvConnector.identity \
            else None
        if memo is not None:
            csv_file.use_memo(memo, self.kind, self.options)
        for item in csv_file.rows():
            if isinstance(item, RejectedRow):
                yield item
                continue
            if isinstance(item, KnownRow):
                yield from memo_records(item.records, item.ref, tracker)
                continue
            line_key = b""
            if memo is not None:
                # A record over several lines (quoted line breaks) is looked up here, whole.
                line_key = memo.key(csv_file.memo_context, item.raw)
                hit = memo.unchanged(line_key)
                if hit is not None:
                    yield from memo_records(hit, item.ref, tracker)
                    continue
            if is_stored is not None:
                key = self.identity(item)
                if key is not None and is_stored(key[0], key[1]):
                    if memo is not None:
                        memo.learn(line_key, [key])
                    tracker.see(key[2])
                    yield StoredRecord(key[0], key[1], item.ref, key[2])
                    continue
            record = self.to_record(item)
            if memo is not None:
                memo.learn(line_key, [(record.source_id, record.raw, record.updated_at)])
            tracker.see(record.updated_at)
            yield record
        self.new_watermark = tracker.result()
