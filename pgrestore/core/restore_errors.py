"""Which errors of a pg_dumpall replay into a running Spilo cluster are expected, by object and phase.

Replaying a whole-cluster dump into a cluster that Spilo and the operator have already set up always
meets objects that exist already: Spilo's bootstrap objects (core.spilo; in ``postgres``, ``template1``
and every database copied from it), the operator's roles and databases, and databases that cannot be
dropped because Patroni or the metrics exporter hold a session in them. psql reports each as an error
and carries on. Those are benign. Anything else is not: above all any error on an application object
(a table that cannot be created, a COPY that fails, a constraint or index that cannot be built), and
anything this module cannot place in the dump.

The caller streams the exact bytes it sends to psql through ``DumpIndex.feed`` (chunk by chunk; the
index keeps only line numbers and object names, never the dump), then passes psql's stderr and the
index to ``judge``::

    index = DumpIndex()
    for chunk in dump:          # the decompressed SQL, plus any trailer such as b"\\n\\\\q\\n"
        index.feed(chunk)
        send_to_psql(chunk)
    index.close()
    verdict = judge(stderr, index, current_user="postgres")   # the role psql runs as
    if verdict.unexpected: ...  # lines as psql printed them; verdict.findings say where and why

psql's stderr has two shapes, and both are handled:

* ``psql -f -`` (the script read from stdin *as a file*) prefixes every message with its place,
  ``psql:<stdin>:LINE: ERROR:  ...``, LINE being the line that ended the failing statement (for a COPY,
  its ``\\.`` line). Each error is then mapped exactly to its database and TOC entry.
* Plain ``psql`` reading stdin (``psql -U postgres -d postgres -q -X``) prints ``ERROR:  ...`` with no
  place at all. Errors are then aligned in order with the index: each is matched to the first entry at or
  after the previous error's entry that could have raised it (same kind of statement or TOC entry, same
  object name; a statement raises at most one error). Every error Spilo's objects and the operator's
  roles and databases cause names its object and is placed this way; an error that names no object
  cannot be placed, and is unexpected. An application object that shares a name with a Spilo object
  could be mistaken for it here, never with ``-f -``: prefer ``-f -``.

Continuation lines (``DETAIL:``, ``HINT:``, ``CONTEXT:``, ``LINE n:`` and the caret, multi-line details)
belong to the message above them; lines psql itself writes (``invalid command \\.``) are messages of
their own and always unexpected. NOTICE and WARNING messages are not errors and are ignored.

Pure code: no I/O, nothing from the rest of the project but core.spilo.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pgrestore.core import spilo

__all__ = ["CopyHeader", "DumpIndex", "Entry", "Finding", "Verdict", "distinct", "judge", "parse_copy"]

GLOBALS = None  # Entry.database before the dump's first \connect: roles and DROP DATABASE.

# ---------------------------------------------------------------------------------------------------
# The index of a dump


@dataclass(slots=True)
class Entry:
    """One place in the dump: a pg_dump TOC section or one statement that matters on its own.

    ``kind`` is "toc" (``type`` is pg_dump's TOC type: "TABLE", "TABLE DATA", "FUNCTION", ...) or
    "stmt" (``type`` is "DROP ROLE", "CREATE ROLE", "DROP DATABASE" or "CREATE DATABASE"). ``database``
    is the database psql is connected to at that point per the dump's ``\\connect`` lines (GLOBALS before
    the first). ``first``/``last`` are 1-based line numbers, inclusive; ``last`` is 0 while the section
    is still open.
    """

    kind: str
    type: str
    name: str
    schema: str | None
    owner: str | None
    database: str | None
    first: int
    last: int = 0

    @property
    def key(self) -> str:
        """The bare object name an error message would quote."""
        return _object_key(self.type, self.name)

    def describe(self) -> str:
        if self.kind == "stmt":
            return f"{self.type} {self.name}"
        where = f"{self.schema}." if self.schema and self.schema != "-" else ""
        return f"{self.type} {where}{self.name}"


def _object_key(toc_type: str, name: str) -> str:
    if toc_type in ("FUNCTION", "PROCEDURE", "AGGREGATE"):
        return name.split("(", 1)[0]
    if toc_type in ("CONSTRAINT", "FK CONSTRAINT", "TRIGGER", "RULE", "POLICY", "DEFAULT"):
        return name.rsplit(" ", 1)[-1]  # "table constraint"
    return name


_NORMAL, _SQUOTE, _ESQUOTE, _DQUOTE, _DOLLAR, _BLOCK = range(6)

_IDENT_CHAR = re.compile(r"[A-Za-z0-9_$\x80-\U0010ffff]")
_NORMAL_SPECIAL = re.compile(r"--|/\*|[eE]'|'|\"|\$(?:[A-Za-z_\x80-\U0010ffff][A-Za-z0-9_\x80-\U0010ffff]*)?\$|;|\\")
_ESQUOTE_SPECIAL = re.compile(r"\\.?|''|'", re.S)
_BLOCK_SPECIAL = re.compile(r"/\*|\*/")

_TOC = re.compile(r"-- (?:Data for )?Name: (?P<tag>.*); Type: (?P<type>[A-Z][A-Z ]*); "
                  r"Schema: (?P<schema>.*); Owner: (?P<owner>.*)")
_BOUNDARY = re.compile(r'-- (?:PostgreSQL database (?:cluster )?dump|Database ".*" dump)')
_HEAD_CAP = 512

_IDENT = r'(?P<q>"(?:[^"]|"")+"|[^\s;"]+)'
_STATEMENTS = [
    (kind, re.compile(pattern + _IDENT, re.I)) for kind, pattern in (
        ("DROP ROLE", r"DROP\s+(?:ROLE|USER)\s+(?:IF\s+EXISTS\s+)?"),
        ("CREATE ROLE", r"CREATE\s+(?:ROLE|USER)\s+"),
        ("DROP DATABASE", r"DROP\s+DATABASE\s+(?:IF\s+EXISTS\s+)?"),
        ("CREATE DATABASE", r"CREATE\s+DATABASE\s+"),
    )
]
_COPY_START = re.compile(r"COPY\s", re.I)
_FROM_STDIN = re.compile(r"\sFROM\s+stdin\s*;\s*$", re.I)
_TAIL_CAP = 64


def _unquote(ident: str) -> str:
    if len(ident) >= 2 and ident[0] == ident[-1] == '"':
        return ident[1:-1].replace('""', '"')
    return ident


# ---------------------------------------------------------------------------------------------------
# COPY headers

# PostgreSQL's scanner (scan.l, v15): ident_start [A-Za-z\200-\377_], ident_cont adds [0-9\$]; a bare
# name is folded to lower case (ASCII letters only, downcase_identifier), a "quoted" one is kept, "" is one ".
_BARE_IDENT = re.compile(r"[A-Za-z_\x80-\U0010ffff][A-Za-z0-9_$\x80-\U0010ffff]*")
_SPACE = re.compile(r"\s*")
_COPY_WORD = re.compile(r"\s*COPY\s+", re.I)
_FROM_STDIN_END = re.compile(r"\s*FROM\s+stdin\s*;\s*", re.I)
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


@dataclass(frozen=True, slots=True)
class CopyHeader:
    """``COPY schema.table (col, ...) FROM stdin;`` as PostgreSQL reads it: names unquoted, bare names
    folded. ``columns`` is None when there is no column list (or it was not parsed). ``quoted`` says, per
    part of the name (schema, table), whether the dump quoted it: pg_dump quotes every name that is not
    a plain lower-case identifier or that is a keyword (fmtId), so a bare part is safe bare again."""

    schema: str | None
    table: str
    columns: tuple[str, ...] | None
    quoted: tuple[bool, ...]

    @property
    def qualified(self) -> str:
        """schema.table unquoted, as a service definition names a table ("public.system")."""
        return f"{self.schema}.{self.table}" if self.schema is not None else self.table

    def sql_name(self) -> str:
        """The name as SQL again: bare parts as the dump wrote them, quoted parts re-quoted by us (so a
        name read from a dump can never end the identifier early)."""
        parts = [self.table] if self.schema is None else [self.schema, self.table]
        return ".".join('"' + p.replace('"', '""') + '"' if q else p for p, q in zip(parts, self.quoted, strict=True))


def _read_ident(text: str, pos: int) -> tuple[str, bool, int] | None:
    """One identifier at text[pos:]: (name, quoted, end), or None."""
    if text.startswith('"', pos):
        pieces, i = [], pos + 1
        while True:
            j = text.find('"', i)
            if j < 0:
                return None
            pieces.append(text[i:j])
            if text.startswith('"', j + 1):
                pieces.append('"')
                i = j + 2
                continue
            name = "".join(pieces)
            return (name, True, j + 1) if name else None  # "" is not a name (zero-length delimited identifier)
    m = _BARE_IDENT.match(text, pos)
    return (m.group().translate(_ASCII_LOWER), False, m.end()) if m else None


def parse_copy(text: str, name_only: bool = False) -> CopyHeader | None:
    """A ``COPY name [(columns)] FROM stdin;`` statement, or None if text is not one. With ``name_only``
    the statement may be cut after the name (DumpIndex keeps only a statement's first characters)."""
    m = _COPY_WORD.match(text)
    if m is None:
        return None
    parts: list[tuple[str, bool]] = []
    pos = m.end()
    while True:
        got = _read_ident(text, pos)
        if got is None:
            return None
        parts.append(got[:2])
        pos = _SPACE.match(text, got[2]).end()  # type: ignore[union-attr]  # \s* always matches
        if not text.startswith(".", pos):
            break
        if len(parts) == 2:
            return None  # database.schema.table: pg_dump never writes it
        pos = _SPACE.match(text, pos + 1).end()  # type: ignore[union-attr]
    schema = parts[0][0] if len(parts) == 2 else None
    header = CopyHeader(schema, parts[-1][0], None, tuple(q for _, q in parts))
    if name_only:
        return header
    columns: list[str] | None = None
    if text.startswith("(", pos):
        columns = []
        pos += 1
        while True:
            pos = _SPACE.match(text, pos).end()  # type: ignore[union-attr]
            got = _read_ident(text, pos)
            if got is None:
                return None
            columns.append(got[0])
            pos = _SPACE.match(text, got[2]).end()  # type: ignore[union-attr]
            if text.startswith(",", pos):
                pos += 1
                continue
            if not text.startswith(")", pos):
                return None
            pos += 1
            break
    if _FROM_STDIN_END.fullmatch(text, pos) is None:
        return None
    return CopyHeader(header.schema, header.table, tuple(columns) if columns is not None else None, header.quoted)


# Python's codec for each PostgreSQL client encoding a dump can be written in (PostgreSQL 15, Table 24.3,
# server-side encodings). SQL_ASCII has none: its bytes above 127 mean nothing PostgreSQL knows of.
_CODECS = {
    "UTF8": "utf-8", "LATIN1": "latin-1", "LATIN2": "iso8859-2", "LATIN3": "iso8859-3", "LATIN4": "iso8859-4",
    "LATIN5": "iso8859-9", "LATIN6": "iso8859-10", "LATIN7": "iso8859-13", "LATIN8": "iso8859-14",
    "LATIN9": "iso8859-15", "LATIN10": "iso8859-16", "ISO_8859_5": "iso8859-5", "ISO_8859_6": "iso8859-6",
    "ISO_8859_7": "iso8859-7", "ISO_8859_8": "iso8859-8", "WIN866": "cp866", "WIN874": "cp874",
    "WIN1250": "cp1250", "WIN1251": "cp1251", "WIN1252": "cp1252", "WIN1253": "cp1253", "WIN1254": "cp1254",
    "WIN1255": "cp1255", "WIN1256": "cp1256", "WIN1257": "cp1257", "WIN1258": "cp1258", "KOI8R": "koi8-r",
    "KOI8U": "koi8-u", "EUC_JP": "euc-jp", "EUC_CN": "gb2312", "EUC_KR": "euc-kr", "EUC_TW": "euc-tw",
    "EUC_JIS_2004": "euc-jis-2004",
}
_CLIENT_ENCODING = re.compile(r"SET\s+client_encoding\s*(?:=|TO)\s*'(?P<enc>[^']*)'\s*;", re.I)


def _count_name(header: CopyHeader, encoding: str | None) -> str | None:
    """The table's name as SQL the row-count query can send (as UTF-8), or None if it cannot be.

    The index reads the dump's bytes as UTF-8 with surrogateescape: the bytes of a name are exact. A
    database whose dump is in another encoding (its ``SET client_encoding``) is decoded with that; its
    non-ASCII names are written as Unicode escapes (U&"..."), which PostgreSQL >= 13 converts to the
    server's encoding, so the query means the same whatever encoding psql sends it in. SQL_ASCII (or an
    encoding Python lacks) gives non-ASCII bytes no meaning: such a table cannot be named, and is not
    counted."""
    codec = "utf-8" if encoding is None else _CODECS.get(encoding.upper().replace("-", "_"))
    parts = [header.table] if header.schema is None else [header.schema, header.table]
    out = []
    for part, quoted in zip(parts, header.quoted, strict=True):
        raw = part.encode("utf-8", "surrogateescape")
        if raw.isascii():
            out.append('"' + part.replace('"', '""') + '"' if quoted else part)
            continue
        if codec is None:
            return None
        try:
            text = raw.decode(codec)
        except UnicodeDecodeError:
            return None
        if codec == "utf-8":
            out.append('"' + text.replace('"', '""') + '"')
        else:
            escaped = "".join(c if c.isascii() and c != "\\" else
                              ("\\\\" if c == "\\" else f"\\+{ord(c):06X}") for c in text.replace('"', '""'))
            out.append(f'U&"{escaped}"')
    return ".".join(out)


class DumpIndex:
    """Line numbers, databases and TOC sections of a plain-text pg_dumpall, fed as it streams.

    Counts lines as psql does (COPY data lines included), follows psql's lexing of quotes, dollar
    quotes and comments so that text inside a function body or a COPY row is never taken for a
    ``\\connect`` or a TOC comment, and keeps one small entry per TOC section and per role or database
    statement. Memory is proportional to the number of objects in the dump, not to its size; COPY data
    is skipped with byte searches.

    ``rows`` counts each COPY block's rows: database -> table (as SQL, see _count_name) -> rows.
    ``uncounted`` names the COPY blocks whose table cannot be named in a query (a SQL_ASCII database's
    non-ASCII names); their rows are not counted.
    """

    def __init__(self) -> None:
        self.lines = 0                      # complete lines seen
        self.entries: list[Entry] = []      # in dump order (a statement inside a section follows it)
        self.connects: list[tuple[int, str]] = []  # (line, database) of each \connect
        self._connect_lines: list[int] = []
        self._starts: list[int] = []        # entries[i].first, for bisect
        self._pending = b""                 # an incomplete line (never COPY data)
        self._copy = False
        self._copy_midline = False          # inside a long COPY row whose start was already skipped
        self._state = _NORMAL
        self._dollar_tag = ""
        self._depth = 0
        self._head: list[str] = []
        self._head_len = 0
        self._tail = ""                     # the statement's last characters (COPY ... FROM stdin;)
        self._stmt_first = 0
        self._section: Entry | None = None
        self._database: str | None = GLOBALS
        self._by_key: dict[str, list[int]] | None = None
        self.rows: dict[str, dict[str, int]] = {}
        self.uncounted: list[str] = []
        self._encoding: str | None = None   # the dump's SET client_encoding since the last \connect
        self._database_exact = True         # the database's name is valid UTF-8 (can be passed to psql -d)
        self._copy_into: tuple[str, str] | None = None  # (database, table) the open COPY block counts for
        self._copy_first = 0                # the line of the COPY statement

    # -- feeding -------------------------------------------------------------------------------------

    def feed(self, chunk: bytes) -> None:
        """Take the next bytes exactly as psql receives them."""
        if not chunk:
            return
        buf = self._pending + chunk if self._pending else chunk
        self._pending = b""
        pos = 0
        end = len(buf)
        while pos < end:
            if self._copy:
                pos = self._skip_copy(buf, pos)
                if self._copy:
                    return
                continue
            nl = buf.find(b"\n", pos)
            if nl < 0:
                self._pending = buf[pos:]
                return
            self.lines += 1
            self._sql_line(buf[pos:nl].decode("utf-8", "surrogateescape"))
            pos = nl + 1

    def close(self) -> None:
        """The stream ended: count a last line without a newline (psql reads it too)."""
        if self._pending and not self._copy:
            self.lines += 1
            self._sql_line(self._pending.decode("utf-8", "surrogateescape"))
        elif self._copy and (self._pending or self._copy_midline):
            self.lines += 1
        if self._copy:
            self._end_copy(terminated=False)
        self._pending = b""
        self._copy_midline = False
        self._close_section()

    def _skip_copy(self, buf: bytes, pos: int) -> int:
        """Consume COPY data from buf[pos:]; return where SQL resumes, or len(buf) if still in COPY."""
        end = len(buf)
        if self._copy_midline:
            nl = buf.find(b"\n", pos)
            if nl < 0:
                return end
            self.lines += 1
            self._copy_midline = False
            pos = nl + 1
        while pos < end:
            # pos is at the start of a data line: is it the terminator?
            for term in (b"\\.\n", b"\\.\r\n"):
                if buf.startswith(term, pos):
                    self.lines += 1
                    self._end_copy(terminated=True)
                    return pos + len(term)
            rest = buf[pos:pos + 4]
            if len(rest) < 4 and b"\n" not in rest and (b"\\.\r\n".startswith(rest) or b"\\.\n".startswith(rest)):
                self._pending = bytes(rest)  # could still become "\.\n"
                return end
            hit = buf.find(b"\n\\.", pos)
            if hit < 0:
                last = buf.rfind(b"\n", pos)
                if last < 0:
                    self._copy_midline = True
                    return end
                self.lines += buf.count(b"\n", pos, last + 1)
                tail = buf[last + 1:]
                if len(tail) >= 4 or not (b"\\.\r\n".startswith(tail) or b"\\.\n".startswith(tail)):
                    self._copy_midline = bool(tail)
                else:
                    self._pending = bytes(tail)
                return end
            self.lines += buf.count(b"\n", pos, hit + 1)
            pos = hit + 1
        return end

    # -- SQL lexing (psql's rules, enough for pg_dump output) -----------------------------------------

    def _sql_line(self, text: str) -> None:
        line = self.lines
        if text.endswith("\r"):
            text = text[:-1]
        if self._state == _NORMAL and not self._head:
            stripped = text.lstrip()
            if stripped.startswith("--"):
                self._comment_line(stripped, line)
                return
        i, n = 0, len(text)
        while i < n:
            state = self._state
            if state == _NORMAL:
                m = _NORMAL_SPECIAL.search(text, i)
                if m is None:
                    self._add(text[i:], line)
                    break
                self._add(text[i:m.start()], line)
                tok = m.group()
                if tok == "--":
                    break
                if tok == "/*":
                    self._state, self._depth = _BLOCK, 1
                    i = m.end()
                elif tok == ";":
                    self._add(";", line)
                    self._end_statement(line)
                    if self._copy:
                        return  # COPY data starts on the next line
                    i = m.end()
                elif tok == "\\":
                    self._meta(text[m.end():], line)
                    return
                else:
                    start = m.start()
                    if tok[0] in "eE$" and start > 0 and _IDENT_CHAR.match(text[start - 1]):
                        # inside an identifier (foo$bar$, somE'x') rather than opening a quote
                        self._add(text[start], line)
                        i = start + 1
                        continue
                    self._add(tok, line)
                    i = m.end()
                    if tok == '"':
                        self._state = _DQUOTE
                    elif tok == "'":
                        self._state = _SQUOTE
                    elif tok in ("E'", "e'"):
                        self._state = _ESQUOTE
                    else:
                        self._state, self._dollar_tag = _DOLLAR, tok
            elif state in (_SQUOTE, _DQUOTE):
                quote = "'" if state == _SQUOTE else '"'
                j = text.find(quote, i)
                if j < 0:
                    self._add(text[i:], line)
                    break
                if text.startswith(quote * 2, j):
                    self._add(text[i:j + 2], line)
                    i = j + 2
                    continue
                self._add(text[i:j + 1], line)
                self._state = _NORMAL
                i = j + 1
            elif state == _ESQUOTE:
                m = _ESQUOTE_SPECIAL.search(text, i)
                if m is None:
                    self._add(text[i:], line)
                    break
                self._add(text[i:m.end()], line)
                i = m.end()
                if m.group() == "'":
                    self._state = _NORMAL
            elif state == _DOLLAR:
                j = text.find(self._dollar_tag, i)
                if j < 0:
                    self._add(text[i:], line)
                    break
                self._add(text[i:j + len(self._dollar_tag)], line)
                self._state = _NORMAL
                i = j + len(self._dollar_tag)
            else:  # _BLOCK
                m = _BLOCK_SPECIAL.search(text, i)
                if m is None:
                    break
                self._depth += 1 if m.group() == "/*" else -1
                if self._depth == 0:
                    self._state = _NORMAL
                i = m.end()
        if self._state not in (_NORMAL, _BLOCK):
            self._add("\n", line)  # inside a literal the line break is part of it
        elif self._head:
            self._add(" ", line)

    def _add(self, s: str, line: int) -> None:
        if not s:
            return
        if not self._head:
            if not s.strip():
                return
            self._stmt_first = line
        if self._head_len < _HEAD_CAP:
            self._head.append(s)
            self._head_len += len(s)
        self._tail = (self._tail + s)[-_TAIL_CAP:]

    def _end_statement(self, line: int) -> None:
        head = "".join(self._head).lstrip()[:_HEAD_CAP]
        tail = self._tail
        first = self._stmt_first
        self._head, self._head_len, self._tail = [], 0, ""
        for kind, pattern in _STATEMENTS:
            m = pattern.match(head)
            if m:
                self._append(Entry("stmt", kind, _clean(_unquote(m.group("q"))), None, None, self._database, first,
                                   line))
                return
        if _COPY_START.match(head) and _FROM_STDIN.search(tail):
            self._start_copy(head, line)
        elif m := _CLIENT_ENCODING.match(head):
            self._encoding = m["enc"]

    def _start_copy(self, head: str, line: int) -> None:
        self._copy, self._copy_first, self._copy_into = True, line, None
        header = parse_copy(head, name_only=True)
        name = _count_name(header, self._encoding) if header is not None and self._database_exact else None
        if name is None:
            self.uncounted.append(_clean(head[:200]))
            return
        database = self._database if self._database is not None else "postgres"
        self.rows.setdefault(database, {}).setdefault(name, 0)
        self._copy_into = (database, name)

    def _end_copy(self, terminated: bool) -> None:
        """The COPY block ended (at its \\. line, or with the stream): its rows are the lines between."""
        self._copy = False
        if self._copy_into is not None:
            database, name = self._copy_into
            self.rows[database][name] += self.lines - self._copy_first - (1 if terminated else 0)
            self._copy_into = None

    def _comment_line(self, stripped: str, line: int) -> None:
        m = _TOC.fullmatch(stripped.rstrip())
        if m:
            self._close_section(line - 1)
            schema = None if m["schema"] == "-" else _clean(m["schema"])
            entry = Entry("toc", m["type"], _clean(m["tag"]), schema, _clean(m["owner"]) or None, self._database,
                          line)
            self._section = entry
            self._append(entry)
        elif _BOUNDARY.match(stripped):
            self._close_section(line - 1)

    def _meta(self, rest: str, line: int) -> None:
        words = _meta_words(rest)
        if not words or words[0] not in ("connect", "c"):
            return
        db = _connect_target(words[1:])
        if db is None:
            return
        self._close_section(line - 1)
        self._database = _clean(db)
        self._database_exact = self._database == db
        self._encoding = None  # a new session: the database's own encoding until the dump SETs one
        self.connects.append((line, self._database))
        self._connect_lines.append(line)

    def _append(self, entry: Entry) -> None:
        self.entries.append(entry)
        self._starts.append(entry.first)
        self._by_key = None

    def _close_section(self, last: int | None = None) -> None:
        if self._section is not None:
            self._section.last = max(self._section.first, self.lines if last is None else last)
            self._section = None

    # -- lookups ------------------------------------------------------------------------------------

    def database_at(self, line: int) -> str | None:
        """The database psql is connected to at this dump line, per the dump (GLOBALS before any)."""
        i = bisect.bisect_left(self._connect_lines, line) - 1  # a failing \connect is still in the old one
        return self.connects[i][1] if i >= 0 else GLOBALS

    def locate(self, line: int) -> Entry | None:
        """The statement entry spanning this line, else the TOC section containing it."""
        i = bisect.bisect_right(self._starts, line) - 1
        section = None
        while i >= 0:
            e = self.entries[i]
            last = e.last or self.lines
            if e.kind == "stmt":
                if e.first <= line <= last:
                    return e
            elif section is None:
                if line <= last:
                    section = e
                break
            i -= 1
        return section

    def candidates(self, key: str) -> list[int]:
        """Positions (in entries) of entries whose object name is key."""
        if self._by_key is None:
            by_key: dict[str, list[int]] = {}
            for pos, e in enumerate(self.entries):
                by_key.setdefault(e.key, []).append(pos)
            self._by_key = by_key
        return self._by_key.get(key, [])


def _clean(text: str) -> str:
    """Text read with surrogateescape, made printable: bytes that are not UTF-8 become U+FFFD."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _meta_words(rest: str) -> list[str]:
    """psql's splitting of a meta-command's arguments: whitespace, "double" and 'single' quotes."""
    words: list[str] = []
    i, n = 0, len(rest)
    while i < n:
        while i < n and rest[i].isspace():
            i += 1
        if i >= n or rest.startswith("\\", i):
            break
        word = []
        while i < n and not rest[i].isspace():
            c = rest[i]
            if c in "\"'":
                j = i + 1
                while j < n:
                    if rest[j] == c:
                        if rest.startswith(c * 2, j):
                            word.append(c)
                            j += 2
                            continue
                        break
                    if c == "'" and rest[j] == "\\" and j + 1 < n:
                        j += 1
                    word.append(rest[j])
                    j += 1
                i = j + 1
            else:
                word.append(c)
                i += 1
        words.append("".join(word))
    return words


_CONNSTR_DBNAME = re.compile(r"(?:^|\s)dbname\s*=\s*(?:'((?:[^'\\]|\\.)*)'|(\S+))")


def _connect_target(args: Sequence[str]) -> str | None:
    """The database of `\\connect name` or `\\connect -reuse-previous=on "dbname='x'"` (pg_dumpall)."""
    args = [a for a in args if not a.startswith("-reuse-previous")]
    if not args or args[0] in ("", "-"):
        return None
    target = args[0]
    m = _CONNSTR_DBNAME.search(target) if "=" in target else None
    if m:
        return re.sub(r"\\(.)", r"\1", m.group(1)) if m.group(1) is not None else m.group(2)
    return target


# ---------------------------------------------------------------------------------------------------
# psql's stderr

_LOCUS = re.compile(r"psql:(?P<file>.+?):(?P<line>\d+): (?P<rest>.*)", re.S)
_SEVERITY = re.compile(r"(?P<sev>ERROR|FATAL|PANIC|WARNING|NOTICE|INFO|LOG|DEBUG\d?):  (?P<text>.*)", re.S)
_PSQL_OWN = re.compile(r"(?:psql: )?(?P<sev>error|fatal|warning|Warning): (?P<text>.*)", re.S)
_FIELD = re.compile(r"(?:DETAIL|HINT|QUERY|CONTEXT|STATEMENT|LOCATION|SCHEMA NAME|TABLE NAME|COLUMN NAME|"
                    r"DATATYPE NAME|CONSTRAINT NAME):  |LINE \d+: ")
_CARET = re.compile(r"\s*\^\s*")
# Lines psql writes by itself when it has no place to prefix them with.
_PSQL_BARE = re.compile(r"invalid command |\\\S+: |unterminated |connection to server |"
                        r"server closed the connection|no connection to the server|could not |"
                        r"The connection to the server was lost|out of memory|invalid (?:integer|boolean|value)")
_NON_ERRORS = frozenset({"WARNING", "NOTICE", "INFO", "LOG", "DEBUG"})


@dataclass
class _Message:
    line: str                    # the first line, as printed
    severity: str                # ERROR, FATAL, PANIC, WARNING, ..., "psql" (psql's own), "other"
    text: str                    # primary message without severity
    dump_line: int | None
    extra: list[str] = field(default_factory=list)
    free: bool = False           # a DETAIL/HINT/CONTEXT/QUERY field is open (its body may span lines)


def _parse(stderr: str) -> tuple[list[_Message], bool]:
    lines = [ln.rstrip("\r") for ln in stderr.splitlines()]
    located = any(_LOCUS.match(ln) for ln in lines)
    msgs: list[_Message] = []
    cur: _Message | None = None
    for raw in lines:
        if not raw.strip():
            continue
        m = _LOCUS.match(raw)
        dump_line = int(m["line"]) if m else None
        body = m["rest"] if m else raw
        sev = _SEVERITY.match(body)
        own = None if sev else _PSQL_OWN.match(body)
        if sev or own or m:
            if sev:
                cur = _Message(raw.strip(), sev["sev"].rstrip("0123456789"), sev["text"], dump_line)
            elif own:
                cur = _Message(raw.strip(), "psql", own["text"], dump_line)
            else:
                cur = _Message(raw.strip(), "psql", body, dump_line)
            msgs.append(cur)
            continue
        if cur is not None and _FIELD.match(raw):
            cur.extra.append(raw.strip())
            cur.free = not raw.startswith("LINE ")
            continue
        if cur is not None and _CARET.fullmatch(raw):
            cur.extra.append(raw.strip())
            continue
        if cur is not None and (located or (cur.free and not _PSQL_BARE.match(raw))):
            cur.extra.append(raw.strip())
            continue
        # A line that belongs to no message: psql's own words, or something unknown.
        cur = _Message(raw.strip(), "psql" if _PSQL_BARE.match(raw) else "other", raw.strip(), None)
        msgs.append(cur)
    return msgs, located


# ---------------------------------------------------------------------------------------------------
# Rules

_REL_TYPES = ("TABLE", "VIEW", "FOREIGN TABLE", "MATERIALIZED VIEW", "SEQUENCE", "INDEX", "CONSTRAINT")

# message -> (entry kind, entry types that can raise it)
_OBJECT_EXISTS = [
    (re.compile(r'relation "(?P<n>.+)" already exists'), _REL_TYPES),
    (re.compile(r'function "(?P<n>.+)" already exists with same argument types'), ("FUNCTION", "AGGREGATE")),
    (re.compile(r'procedure "(?P<n>.+)" already exists with same argument types'), ("PROCEDURE",)),
    (re.compile(r'schema "(?P<n>.+)" already exists'), ("SCHEMA",)),
    (re.compile(r'extension "(?P<n>.+)" already exists'), ("EXTENSION",)),
    (re.compile(r'server "(?P<n>.+)" already exists'), ("SERVER",)),
    (re.compile(r'type "(?P<n>.+)" already exists'), ("TYPE", "DOMAIN")),
]

# message -> (statement, rule). A role or database statement of the dump meeting what is there already.
_STATEMENT_FIGHTS = [
    (re.compile(r'role "(?P<n>.+)" already exists'), "CREATE ROLE", "role exists already"),
    (re.compile(r'role "(?P<n>.+)" cannot be dropped because some objects depend on it'), "DROP ROLE",
     "role in use, kept"),
    (re.compile(r'role "(?P<n>.+)" does not exist'), "DROP ROLE", "role to drop is absent"),
    (re.compile(r'database "(?P<n>.+)" is being accessed by other users'), "DROP DATABASE",
     "database in use, kept"),
    (re.compile(r'database "(?P<n>.+)" does not exist'), "DROP DATABASE", "database to drop is absent"),
    (re.compile(r'database "(?P<n>.+)" already exists'), "CREATE DATABASE", "database exists already"),
]
# The same CREATE DATABASE meeting the operator's Sync, which re-creates a spec database it finds missing
# (postgres-operator v1.8.2 sync.go syncDatabases) at the same moment: the loser gets the catalog's
# unique-index error instead of "already exists". The database is there, as after "exists already".
_CREATED_MEANWHILE = re.compile(r'duplicate key value violates unique constraint "pg_database_datname_index"')
_CURRENT_USER = re.compile(r"current user cannot be dropped")
_OPEN_DATABASE = re.compile(r"cannot drop the currently open database")
_COPY_CONTEXT = re.compile(r"CONTEXT:  COPY (?P<n>[^,]+),")


@dataclass(frozen=True)
class Finding:
    """One message psql printed, where it happened, and why it is (not) benign."""

    line: str                    # the first line of the message, as psql printed it
    benign: bool
    reason: str
    placed: bool = False         # mapped to a place in the dump
    database: str | None = None  # per the dump's \connect lines; None = globals phase (or not placed)
    entry: str | None = None     # the TOC entry or statement, e.g. "TABLE public.parent"
    dump_line: int | None = None
    detail: tuple[str, ...] = ()

    def describe(self) -> str:
        if not self.placed:
            where = "not placed in the dump"
        elif self.database is None:
            where = "globals"
        else:
            where = f"database {self.database}"
        what = f", {self.entry}" if self.entry else ""
        return f"{where}{what}: {self.line}"


@dataclass(frozen=True)
class Verdict:
    benign: list[str]            # first lines of benign errors, as printed, in order
    unexpected: list[str]        # first lines of every other error or unknown line, as printed, in order
    findings: list[Finding]      # the same, with place and reason
    located: bool                # psql printed dump line numbers (psql -f -)

    @property
    def ok(self) -> bool:
        return not self.unexpected


def _rule(msg: _Message, entry: Entry, current_user: str) -> str | None:
    """Why this error, raised by this entry, is benign; None if it is not."""
    text = msg.text
    if entry.kind == "stmt":
        for pattern, stmt, reason in _STATEMENT_FIGHTS:
            m = pattern.fullmatch(text)
            if m and entry.type == stmt and entry.name == m["n"]:
                if stmt.endswith("ROLE") and entry.database is not GLOBALS:
                    return None
                return reason
        if _CREATED_MEANWHILE.fullmatch(text) and entry.type == "CREATE DATABASE":
            return "database created meanwhile by the operator's Sync"
        if _CURRENT_USER.fullmatch(text) and entry.type == "DROP ROLE" and entry.name == current_user \
                and entry.database is GLOBALS:
            return "restoring user kept"
        if _OPEN_DATABASE.fullmatch(text) and entry.type == "DROP DATABASE" and entry.name == entry.database:
            return "connected database kept"
        return None
    for pattern, types in _OBJECT_EXISTS:
        m = pattern.fullmatch(text)
        if m and entry.type in types and entry.key == m["n"] and spilo.owns(entry.type, entry.schema, entry.name):
            return f"Spilo's {entry.type.lower()} exists already"
    return None


def _predicate(msg: _Message, current_user: str) -> tuple[str, tuple[str, ...]] | None:
    """For aligning an unplaced error: the object name it quotes and the entry types that raise it."""
    text = msg.text
    for pattern, stmt, _ in _STATEMENT_FIGHTS:
        m = pattern.fullmatch(text)
        if m:
            return m["n"], (stmt,)
    if _CURRENT_USER.fullmatch(text):
        return current_user, ("DROP ROLE",)
    for pattern, types in _OBJECT_EXISTS:
        m = pattern.fullmatch(text)
        if m:
            return m["n"], types
    for extra in msg.extra:
        m = _COPY_CONTEXT.match(extra)
        if m:
            return _unquote(m["n"].rsplit(".", 1)[-1]), ("TABLE DATA",)
    return None


_SEVERITY_REASON = {"psql": "psql failed", "other": "unknown output"}


def judge(stderr: str, index: DumpIndex, current_user: str = "postgres") -> Verdict:
    """Sort the errors in psql's stderr of a dump replay into benign and unexpected.

    ``index`` must have been fed exactly the bytes psql read; ``current_user`` is the role psql ran as.
    """
    msgs, located = _parse(stderr)
    findings: list[Finding] = []
    cursor = 0
    used: set[int] = set()
    for msg in msgs:
        if msg.severity in _NON_ERRORS:
            continue
        entry: Entry | None = None
        database: str | None = None
        placed = ambiguous = False
        if msg.dump_line is not None:
            placed = True
            entry = index.locate(msg.dump_line)
            database = index.database_at(msg.dump_line)
        elif msg.severity == "ERROR" and not located:
            pos = _align(msg, index, cursor, used, current_user)
            if pos is not None:
                placed = True
                entry = index.entries[pos]
                database = entry.database
                cursor = pos
                ambiguous = _ambiguous(index, pos, msg, current_user)
                if entry.kind == "stmt":
                    used.add(pos)
        benign: str | None = None
        if msg.severity == "ERROR" and entry is not None and not ambiguous:
            benign = _rule(msg, entry, current_user)
        if benign is not None:
            reason = benign
        elif ambiguous:
            reason = "could also be an application object of the same name (run psql with -f -)"
        elif msg.severity == "ERROR":
            reason = "unexpected error" if placed else "error not placed in the dump"
        else:
            reason = _SEVERITY_REASON.get(msg.severity, f"{msg.severity} from the server")
        findings.append(Finding(
            line=msg.line, benign=benign is not None, reason=reason, placed=placed, database=database,
            entry=entry.describe() if entry else None, dump_line=msg.dump_line, detail=tuple(msg.extra),
        ))
    return Verdict(
        benign=[f.line for f in findings if f.benign],
        unexpected=[f.line for f in findings if not f.benign],
        findings=findings,
        located=located,
    )


def _align(msg: _Message, index: DumpIndex, cursor: int, used: set[int], current_user: str) -> int | None:
    """The first entry at or after cursor that could have raised this error (statements only once)."""
    if _OPEN_DATABASE.fullmatch(msg.text):
        for pos in range(cursor, len(index.entries)):
            e = index.entries[pos]
            if e.kind == "stmt" and e.type == "DROP DATABASE" and e.name == e.database and pos not in used:
                return pos
        return None
    pred = _predicate(msg, current_user)
    if pred is None:
        return None
    key, types = pred
    positions = index.candidates(key)
    later = [p for p in positions[bisect.bisect_left(positions, cursor):]
             if index.entries[p].type in types and p not in used]
    return later[0] if later else None


def _ambiguous(index: DumpIndex, pos: int, msg: _Message, current_user: str) -> bool:
    """Unplaced, this error could also come from a later object of the same name that Spilo does not own."""
    e = index.entries[pos]
    if e.kind != "toc" or not spilo.owns(e.type, e.schema, e.name):
        return False
    pred = _predicate(msg, current_user)
    if pred is None:
        return True
    key, types = pred
    positions = index.candidates(key)
    return any(index.entries[p].type in types and not spilo.owns(index.entries[p].type, index.entries[p].schema,
                                                                 index.entries[p].name)
               for p in positions[bisect.bisect_right(positions, pos):])


def distinct(lines: Iterable[str]) -> list[str]:
    """The lines without repeats, in first-seen order (a dump meets many errors more than once)."""
    return list(dict.fromkeys(lines))
