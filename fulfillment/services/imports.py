"""Importing supplier code files into batches: every line's outcome, or nothing.

A file is read once, a chunk of lines at a time (``code_import``): each chunk's
accepted codes are compared with the codes already stored (one query), sealed
by the vault and inserted (with ``COPY`` on PostgreSQL, in the same transaction:
7.7x ``bulk_create``, docs/performance.md), and its rejected lines stored with
their reasons. Only the chunk in hand and the parser's set of fingerprints are held
in memory, whatever the size of the file.

The whole file is imported in one transaction, so a file refused part-way (a
malformed CSV line 600,000, say) leaves no codes behind; the refusal is then
recorded on the batch, which goes to ``failed``. An open transaction hides its
writes from other processes, so the live progress of an import is kept in the
cache (``batch_import_progress``) and the final counts are written with the codes.

Codes are only ever handled in memory and sealed: never logged, never put in a
task's arguments or an error, never written to a report. The uploaded file holds
them in clear, so it is kept in a private folder and deleted after the import.
"""

import contextlib
import logging
import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.cache import cache
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, connection, reset_queries, transaction
from django.db.models import Count
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import IllegalTransition
from fulfillment import vault
from fulfillment.code_import import (
    Accepted,
    CodeFileFormat,
    CodeFormat,
    ImportRefused,
    Outcome,
    Rejected,
    RejectReason,
    batched,
    code_file_parse,
)
from fulfillment.models import (
    Batch,
    BatchEvent,
    BatchRejection,
    BatchStatus,
    Code,
    CodeRule,
    CodeStatus,
    Supplier,
)
from fulfillment.services.batches import batch_transition
from fulfillment.signals import batch_imported
from fulfillment.tasks import batch_import_task
from shop.models import Product

logger = logging.getLogger(__name__)

# Lines per chunk: large enough that the per-chunk queries are few, small enough
# that a chunk's codes, sealed, stay a few megabytes.
CHUNK_SIZE = 5_000
# Progress stays in the cache this long after its last update, in case the
# importing process died without clearing it.
PROGRESS_TIMEOUT = 60 * 60


@dataclass(frozen=True)
class ImportProgress:
    lines_read: int
    codes_imported: int
    lines_rejected: int
    bytes_read: int
    bytes_total: int

    @property
    def percent(self) -> int:
        return 100 * self.bytes_read // self.bytes_total if self.bytes_total else 100


def _progress_key(batch_id: int) -> str:
    return f"batch-import-progress:{batch_id}"


def batch_import_progress(*, batch_id: int) -> ImportProgress | None:
    """How far the running import of a batch has got; None when none is running."""
    data = cache.get(_progress_key(batch_id))
    return ImportProgress(**data) if data else None


@transaction.atomic
def batch_create(
    *, supplier: Supplier, product: Product, file_name: str, actor: AbstractBaseUser | None
) -> Batch:
    """A new, empty batch waiting for its file to be imported."""
    batch = Batch.objects.create(
        supplier=supplier,
        product=product,
        file_name=Path(file_name).name[:255],
        imported_by=actor,
    )
    BatchEvent.objects.create(batch=batch, to_status=batch.status, actor=actor)
    return batch


def batch_import(
    *,
    batch_id: int,
    path_or_file: str | Path | BinaryIO,
    file_format: CodeFileFormat | str,
    on_progress: Callable[[ImportProgress], None] | None = None,
) -> Batch:
    """Import a code file into an importing batch, wholly or not at all.

    On success the batch goes to ``quarantined`` with its counts, each rejected
    line is stored with its reason, and ``batch_imported`` is sent after commit.
    A refused file (too large, binary, not UTF-8, malformed CSV, missing) imports
    nothing and the batch goes to ``failed`` with the reason in ``failure``.
    Either way the batch is returned.
    A batch no longer importing is returned unchanged, so a repeated task is a
    no-op. ``on_progress`` is called after each chunk (the command's progress bar).

    Not wrapped in one ``transaction.atomic``: the import runs in its own
    transaction, and a refusal is recorded after that has rolled back.
    """
    try:
        with transaction.atomic():
            batch = Batch.objects.select_for_update().get(pk=batch_id)
            if batch.status != BatchStatus.IMPORTING:
                return batch
            with _opened(path_or_file) as file:
                _codes_import(batch, file, CodeFileFormat(file_format), on_progress)
            batch, _moved = batch_transition(batch_id=batch_id, to_status=BatchStatus.QUARANTINED)
            # Higher apps (compliance: provenance and checks) take over after commit.
            transaction.on_commit(partial(batch_imported.send, sender=Batch, batch_id=batch_id))
    except ImportRefused as refusal:
        return _batch_fail(batch_id=batch_id, failure=refusal.message, reason=refusal.details)
    except IntegrityError:
        # Only the unique (product, blind index) constraint can fail here: another
        # import of the same product stored one of these codes after we compared.
        return _batch_fail(
            batch_id=batch_id,
            failure=_(
                "Another import stored some of these codes at the same time. Import the "
                "file again: those codes will then be reported as duplicates."
            ),
            reason={"reason": "concurrent_import"},
        )
    finally:
        cache.delete(_progress_key(batch_id))
    logger.info(
        "batch %s imported: %d codes, %d lines rejected",
        batch.pk,
        batch.codes_imported,
        batch.lines_rejected,
    )
    return batch


@contextlib.contextmanager
def _opened(path_or_file: str | Path | BinaryIO) -> Iterator[BinaryIO]:
    if not isinstance(path_or_file, str | Path):
        yield path_or_file  # the caller's file; the caller closes it
        return
    try:
        file = open(path_or_file, "rb")  # noqa: SIM115 - closed below, after the import
    except FileNotFoundError:
        raise ImportRefused(
            _("The uploaded file is no longer there. Upload it again."), reason="file_missing"
        ) from None
    with file:
        yield file


def _codes_import(
    batch: Batch,
    file: BinaryIO,
    file_format: CodeFileFormat,
    on_progress: Callable[[ImportProgress], None] | None,
) -> None:
    # Without a rule of its own a product gets the model's default lengths.
    rule = CodeRule.objects.filter(product_id=batch.product_id).first() or CodeRule()
    code_file = code_file_parse(
        file,
        file_format=file_format,
        code_format=CodeFormat(
            pattern=rule.pattern or None, min_length=rule.min_length, max_length=rule.max_length
        ),
        max_bytes=settings.KEYSHOP_IMPORT_MAX_BYTES,
        fingerprint=partial(vault.blind_index, product_id=batch.product_id),
    )
    lines_read = imported = rejected = 0
    for chunk in batched(code_file.outcomes, CHUNK_SIZE):
        outcomes = _against_stored_codes(batch.product_id, chunk)
        accepted = [outcome for outcome in outcomes if isinstance(outcome, Accepted)]
        _codes_insert(batch, accepted)
        BatchRejection.objects.bulk_create(
            BatchRejection(batch=batch, line_no=outcome.line_no, reason=outcome.reason)
            for outcome in outcomes
            if isinstance(outcome, Rejected)
        )
        lines_read += len(outcomes)
        imported += len(accepted)
        rejected += len(outcomes) - len(accepted)
        progress = ImportProgress(
            lines_read=lines_read,
            codes_imported=imported,
            lines_rejected=rejected,
            bytes_read=min(file.tell(), code_file.size),
            bytes_total=code_file.size,
        )
        cache.set(_progress_key(batch.pk), asdict(progress), PROGRESS_TIMEOUT)
        if on_progress:
            on_progress(progress)
        if settings.DEBUG:
            # DEBUG keeps the last 9,000 queries with their parameters: for a large
            # file, hundreds of megabytes of INSERTs.
            reset_queries()
    Batch.objects.filter(pk=batch.pk).update(
        file_sha256=code_file.sha256,
        lines_read=lines_read,
        codes_imported=imported,
        lines_rejected=rejected,
    )


def _against_stored_codes(product_id: int, chunk: list[Outcome]) -> list[Outcome]:
    """The chunk, with accepted codes already stored (in any status) turned into rejections.

    Codes repeated within the file were rejected by the parser already, so only
    earlier imports can hold them.
    """
    indexes = [outcome.fingerprint for outcome in chunk if isinstance(outcome, Accepted)]
    if not indexes:
        return chunk
    # blind index -> whether the stored code was ever sold (it is on an order line).
    stored = {
        bytes(index): order_line_id is not None
        for index, order_line_id in Code.objects.filter(
            product_id=product_id, blind_index__in=indexes
        ).values_list("blind_index", "order_line_id")
    }
    if not stored:
        return chunk
    return [
        Rejected(
            outcome.line_no,
            RejectReason.DUPLICATE_SOLD
            if stored[outcome.fingerprint]
            else RejectReason.DUPLICATE_IN_STOCK,
        )
        if isinstance(outcome, Accepted) and outcome.fingerprint in stored
        else outcome
        for outcome in chunk
    ]


# The columns a new code needs; the others are null until it is sold.
COPY_COLUMNS = ("product_id", "batch_id", "status", "blind_index", "key_id", "ciphertext")


def _codes_insert(batch: Batch, accepted: list[Accepted]) -> None:
    """Seal and insert new codes (held back until the batch is released).

    On PostgreSQL through ``COPY`` on Django's own connection, so the import's
    transaction covers it and a unique violation is Django's IntegrityError;
    ``bulk_create`` elsewhere (SQLite: the demo and quick test runs).
    """
    rows = (_sealed_row(batch, outcome) for outcome in accepted)
    if connection.vendor != "postgresql":
        Code.objects.bulk_create(Code(**dict(zip(COPY_COLUMNS, row, strict=True))) for row in rows)
        return
    columns = ", ".join((*COPY_COLUMNS, "status_changed_at"))
    now = timezone.now()
    with (
        connection.cursor() as cursor,
        connection.wrap_database_errors,
        cursor.cursor.copy(f"COPY {Code._meta.db_table} ({columns}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row((*row, now))


def _sealed_row(batch: Batch, accepted: Accepted) -> tuple:
    sealed = vault.seal(
        accepted.code, product_id=batch.product_id, blind_index=accepted.fingerprint
    )
    return (
        batch.product_id,
        batch.pk,
        CodeStatus.HELD_BACK.value,
        accepted.fingerprint,
        sealed.key_id,
        sealed.ciphertext,
    )


@transaction.atomic
def _batch_fail(*, batch_id: int, failure: str, reason: dict[str, object]) -> Batch:
    batch, _moved = batch_transition(batch_id=batch_id, to_status=BatchStatus.FAILED, note=failure)
    batch.failure = failure[: Batch._meta.get_field("failure").max_length]
    batch.save(update_fields=["failure", "updated_at"])
    # The reason code only: messages are for people and may grow details.
    logger.info("batch %s import refused (%s)", batch_id, reason.get("reason", "unknown"))
    return batch


# Uploads from the admin: stored privately, imported by a task, then deleted.


def _imports_dir() -> Path:
    return Path(settings.MEDIA_ROOT) / "imports"


@transaction.atomic
def batch_import_queue(
    *,
    supplier: Supplier,
    product: Product,
    file: UploadedFile,
    file_format: CodeFileFormat | str,
    actor: AbstractBaseUser | None,
) -> Batch:
    """Create a batch for an uploaded file, store the file privately and queue its import.

    A file over the size limit is refused at once (ImportRefused), before a batch
    exists; every other check is the import's. The task is queued after commit,
    with the batch id and the stored file's path only.
    """
    if file.size is not None and file.size > settings.KEYSHOP_IMPORT_MAX_BYTES:
        raise ImportRefused(
            _("The file is larger than %(limit)s.")
            % {"limit": filesizeformat(settings.KEYSHOP_IMPORT_MAX_BYTES)},
            reason="too_large",
        )
    file_format = CodeFileFormat(file_format)
    batch = batch_create(supplier=supplier, product=product, file_name=file.name or "", actor=actor)
    stored_path = str(_upload_store(file, batch_id=batch.pk))
    transaction.on_commit(
        partial(batch_import_task.delay, batch.pk, stored_path, file_format.value)
    )
    return batch


def _upload_store(file: UploadedFile, *, batch_id: int) -> Path:
    folder = _imports_dir()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Our own name, not the uploader's: no path tricks, no codes or names on disk.
    path = folder / f"batch-{batch_id}-{secrets.token_hex(8)}"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as stored:
        for chunk in file.chunks():
            stored.write(chunk)
    return path


def batch_import_stored(*, batch_id: int, stored_path: str, file_format: str) -> Batch:
    """Import a file stored by ``batch_import_queue``, then delete it.

    The file is kept only if the import stopped on an unexpected error, so a
    retried task can read it again; once imported or refused it is deleted, since
    it holds the codes in clear.
    """
    path = Path(stored_path).resolve()
    if not path.is_relative_to(_imports_dir().resolve()):
        # Task arguments come through the broker: never read or delete elsewhere.
        raise SuspiciousFileOperation("An import file must be in MEDIA_ROOT/imports.")
    batch = batch_import(batch_id=batch_id, path_or_file=path, file_format=file_format)
    path.unlink(missing_ok=True)
    return batch


def batches_stuck_importing_fail(*, now: datetime | None = None) -> int:
    """Fail batches left ``importing`` for ``KEYSHOP_IMPORT_STUCK_HOURS``; returns how many.

    An import is one transaction holding its batch's row lock, and a worker killed
    mid-import has its task run again (acks_late). What is left ``importing`` after
    hours is an import whose task failed on an unexpected error or was lost: its
    batch holds no codes, so it fails with a message telling staff to upload the
    file again, and the stored file, which holds codes in clear, is deleted. A
    batch whose import is running now is locked and skipped (SKIP LOCKED).
    """
    now = now or timezone.now()
    cutoff = now - timedelta(hours=settings.KEYSHOP_IMPORT_STUCK_HOURS)
    stale = Batch.objects.filter(status=BatchStatus.IMPORTING, updated_at__lt=cutoff)
    failed = 0
    for batch_id in stale.order_by("pk").values_list("pk", flat=True):
        try:
            with transaction.atomic():
                idle = (
                    Batch.objects.select_for_update(skip_locked=True)
                    .filter(pk=batch_id, status=BatchStatus.IMPORTING)
                    .exists()
                )
                if not idle:
                    continue
                _batch_fail(
                    batch_id=batch_id,
                    failure=_("The import did not finish. Upload the file again."),
                    reason={"reason": "stuck"},
                )
        except IllegalTransition:
            continue  # SQLite has no row locks: the import finished meanwhile
        for leftover in _imports_dir().glob(f"batch-{batch_id}-*"):
            leftover.unlink(missing_ok=True)
        failed += 1
    return failed


# Reads for the admin's report and the command's summary. Neither holds a code.


def batch_rejections_by_reason(*, batch_id: int) -> dict[str, int]:
    """How many lines of the batch's file were rejected, per reason."""
    return dict(
        BatchRejection.objects.filter(batch_id=batch_id)
        .values_list("reason")
        .annotate(count=Count("pk"))
        .order_by("reason")
    )


def batch_rejection_report(*, batch_id: int) -> Iterator[tuple[int, str, str]]:
    """(line number, reason, message for people) per rejected line, in line order."""
    rows = (
        BatchRejection.objects.filter(batch_id=batch_id)
        .order_by("line_no")
        .values_list("line_no", "reason")
        .iterator(chunk_size=CHUNK_SIZE)
    )
    for line_no, reason in rows:
        yield line_no, reason, rejection_message(reason)


def rejection_message(reason: str) -> str:
    """The sentence for a rejection reason, in the active language."""
    try:
        return str(RejectReason(reason).label)
    except ValueError:  # a reason from an older version of the parser
        return reason
