"""Reading supplier code files: whole-file checks, then one outcome per line.

No database access here. ``code_file_parse`` checks the whole file first (size,
binary content, UTF-8) in one streaming pass that also hashes it, refusing with
ImportRefused before any line is parsed; then ``CodeFile.outcomes`` yields an
``Accepted`` or ``Rejected`` per data line, lazily, so a caller can write them
in batches (``batched``) without the file or its codes ever being held whole.

Rejections carry a line number and a reason, never the code: the report of an
import is downloadable, and a code in it would be a code leaked.
"""

import codecs
import csv
import hashlib
import io
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import BinaryIO, TypeVar

from django.db import models
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.errors import KeyshopError

CHUNK_BYTES = 1024 * 1024
# Bytes that do not occur in a text file of codes (tab, line feed and carriage
# return excepted). NUL alone marks a file as binary; the others only in bulk,
# since a stray one (a DOS end-of-file mark, say) is harmless.
_CONTROL_BYTES = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])
MAX_CONTROL_SHARE = 0.05

T = TypeVar("T")


class ImportRefused(KeyshopError):
    """The whole file is refused; no line of it was imported."""

    code = "import_refused"
    default_message = _("The file cannot be imported.")


class CodeFileFormat(models.TextChoices):
    TXT = "txt", _("Text, one code per line")
    CSV = "csv", _("CSV with a “code” column")


class RejectReason(models.TextChoices):
    BLANK = "blank", _("The line has no code.")
    TOO_SHORT = "too_short", _("The code is shorter than this product's codes.")
    TOO_LONG = "too_long", _("The code is longer than this product's codes.")
    PATTERN = "pattern", _("The code does not match this product's code format.")
    DUPLICATE_IN_FILE = "duplicate_in_file", _("The code repeats an earlier line of this file.")
    # Set by the importer, which compares with the codes already stored; the
    # parser itself never touches the database.
    DUPLICATE_IN_STOCK = "duplicate_in_stock", _("The code is already in the vault.")
    DUPLICATE_SOLD = "duplicate_sold", _("The code was already sold.")


@dataclass(frozen=True)
class CodeFormat:
    """What a product's codes look like, checked after normalisation."""

    pattern: str | None  # a regular expression the whole code must match
    min_length: int
    max_length: int


@dataclass(frozen=True)
class Accepted:
    line_no: int
    code: str = field(repr=False)  # normalised; kept out of the repr so it never reaches a log
    fingerprint: bytes = field(repr=False)  # what ``fingerprint`` returned for ``code``


@dataclass(frozen=True)
class Rejected:
    line_no: int
    reason: RejectReason

    @property
    def message(self) -> str:
        return str(self.reason.label)


Outcome = Accepted | Rejected


@dataclass(frozen=True)
class CodeFile:
    """A file that passed the whole-file checks, and its outcomes, one per data line.

    ``outcomes`` reads the file lazily and can be iterated once.
    """

    sha256: str  # hex digest of the file's bytes, as uploaded
    size: int
    outcomes: Iterator[Outcome] = field(repr=False, compare=False)


def normalise_code(raw: str) -> str:
    """The form a code is validated, de-duplicated and stored in.

    Supplier files mix case and spacing ("abcd-efgh ", "ABCD - EFGH"), and the
    platforms we sell for treat keys case-insensitively, so upper-case and drop
    all whitespace; hyphens are kept as they are, since they are part of the
    format some products' patterns check.
    """
    return "".join(raw.split()).upper()


def code_file_parse(
    file: BinaryIO,
    *,
    file_format: CodeFileFormat | str,
    code_format: CodeFormat,
    max_bytes: int,
    fingerprint: Callable[[str], bytes],
) -> CodeFile:
    """Check a supplier file whole, then return its lazily parsed outcomes.

    ``file`` is a binary, seekable file (an UploadedFile, or ``open(path, "rb")``);
    it is left open. ``fingerprint`` is a keyed hash of a normalised code (the
    vault's blind index for the product): duplicates are found by fingerprint,
    so no set of plaintext codes is kept.

    Raises ImportRefused for a file that is too large, binary or not UTF-8.
    ``outcomes`` raises it too: at once for a CSV without a ``code`` column, and
    part-way for a malformed CSV, so write its outcomes in one transaction.
    """
    file_format = CodeFileFormat(file_format)
    sha256, size = _check_whole_file(file, max_bytes=max_bytes)
    file.seek(0)
    outcomes = _outcomes(_raw_codes(file, file_format), code_format, fingerprint)
    return CodeFile(sha256=sha256, size=size, outcomes=outcomes)


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Lists of ``size`` items (the last may be shorter), to write outcomes in batches.

    itertools.batched arrives only in Python 3.12.
    """
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _check_whole_file(file: BinaryIO, *, max_bytes: int) -> tuple[str, int]:
    """Hash the file and refuse it if too large, binary or not UTF-8; a chunk at a time."""
    file.seek(0)  # a form's validation may have read it already
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()  # strict; a BOM decodes fine
    size = control = 0
    try:
        while chunk := file.read(CHUNK_BYTES):
            size += len(chunk)
            if size > max_bytes:
                raise ImportRefused(
                    gettext("The file is larger than %(limit)s.")
                    % {"limit": filesizeformat(max_bytes)},
                    reason="too_large",
                )
            digest.update(chunk)
            control += len(chunk) - len(chunk.translate(None, _CONTROL_BYTES))
            # Binary before UTF-8, so a binary file is called binary, not "not UTF-8".
            if b"\x00" in chunk or control > MAX_CONTROL_SHARE * size:
                raise ImportRefused(
                    gettext("The file is not a text file. Upload the codes as plain text or CSV."),
                    reason="binary",
                )
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        # exc.object holds the file's last bytes read (the decoder's carried-over
        # bytes and the chunk), so this is the bad byte's position in the file.
        position = size - len(exc.object) + exc.start
        raise ImportRefused(
            gettext(
                "The file is not UTF-8 text (the first bad byte is at position %(position)d). "
                "Save it as UTF-8 and upload it again."
            )
            % {"position": position},
            reason="not_utf8",
        ) from None
    return digest.hexdigest(), size


def _raw_codes(file: BinaryIO, file_format: CodeFileFormat) -> Iterator[tuple[int, str]]:
    """(line number, raw code) per data line, decoded as it is read."""
    # utf-8-sig drops a byte order mark (Excel writes one); newline="" leaves line
    # ends to us and to csv, which needs that to read quoted fields right.
    text = io.TextIOWrapper(file, encoding="utf-8-sig", newline="")
    try:
        if file_format == CodeFileFormat.TXT:
            yield from enumerate(text, start=1)
        else:
            yield from _csv_codes(text)
    finally:
        text.detach()  # closing the wrapper would close the caller's file


def _csv_codes(text: io.TextIOWrapper) -> Iterator[tuple[int, str]]:
    reader = csv.reader(text)
    try:
        header = next(reader, [])
        columns = [name.strip().lower() for name in header]
        if "code" not in columns:
            raise ImportRefused(
                gettext("The first row of the CSV file must name a “code” column."),
                reason="no_code_column",
            )
        column = columns.index("code")
        for row in reader:
            # A row too short to reach the code column has no code: blank.
            yield reader.line_num, row[column] if column < len(row) else ""
    except csv.Error:
        # In practice a field over csv's 128 KiB limit, such as an unclosed quote
        # swallowing the rest of the file. The lines before it were yielded, so the
        # caller's transaction has to roll them back.
        raise ImportRefused(
            gettext("The CSV file is malformed at line %(line)d.") % {"line": reader.line_num},
            reason="malformed_csv",
        ) from None


def _outcomes(
    raw_codes: Iterable[tuple[int, str]],
    code_format: CodeFormat,
    fingerprint: Callable[[str], bytes],
) -> Iterator[Outcome]:
    pattern = re.compile(code_format.pattern) if code_format.pattern else None
    seen: set[bytes] = set()
    for line_no, raw in raw_codes:
        code = normalise_code(raw)
        if not code:
            yield Rejected(line_no, RejectReason.BLANK)
        elif len(code) < code_format.min_length:
            yield Rejected(line_no, RejectReason.TOO_SHORT)
        elif len(code) > code_format.max_length:
            yield Rejected(line_no, RejectReason.TOO_LONG)
        elif pattern and not pattern.fullmatch(code):
            yield Rejected(line_no, RejectReason.PATTERN)
        elif (key := fingerprint(code)) in seen:
            yield Rejected(line_no, RejectReason.DUPLICATE_IN_FILE)
        else:
            seen.add(key)
            yield Accepted(line_no, code, key)
