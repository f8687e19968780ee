import hashlib
import io
import logging
import secrets
from collections.abc import Iterator

import pytest
from celery.signals import task_prerun
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse

from fulfillment import vault
from fulfillment.code_import import RejectReason
from fulfillment.models import (
    Batch,
    BatchEvent,
    BatchRejection,
    BatchStatus,
    Code,
    CodeRule,
    CodeStatus,
    StockLevel,
)
from fulfillment.services import imports
from fulfillment.services.batches import batch_code_counts
from fulfillment.services.imports import (
    batch_create,
    batch_import,
    batch_import_progress,
    batch_rejection_report,
    batch_rejections_by_reason,
)
from fulfillment.signals import batch_imported
from tests.fulfillment.factories import (
    SupplierFactory,
    code_plaintext,
    codes_mark_delivered,
    codes_stock,
)
from tests.shop.factories import ProductFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_release_checks")]

# Codes like "KS-00000186A0": a prefix and ten hexadecimal digits.
KS_RULE = {"pattern": r"KS-[0-9A-F]{10}", "min_length": 13, "max_length": 13}


def ks_code(number: int) -> str:
    return f"KS-{number:010X}"


def new_batch(product) -> Batch:
    return batch_create(
        supplier=SupplierFactory(), product=product, file_name="codes.txt", actor=None
    )


def rejections(batch) -> list[tuple[int, str]]:
    return list(
        BatchRejection.objects.filter(batch=batch)
        .order_by("line_no")
        .values_list("line_no", "reason")
    )


def moves(batch) -> list[tuple[str, str, str]]:
    return list(
        BatchEvent.objects.filter(batch=batch).values_list("from_status", "to_status", "note")
    )


def test_a_100000_line_file_imports_every_good_line_and_reports_each_rejected_one(tmp_path):
    product = ProductFactory()
    CodeRule.objects.create(product=product, **KS_RULE)
    in_stock, held_back, sold = ks_code(0xFFFFFFFFF1), ks_code(0xFFFFFFFFF2), ks_code(0xFFFFFFFFF3)
    codes_stock(product, 1, codes=[in_stock])
    codes_stock(product, 1, codes=[held_back], status="quarantined")
    sold_batch = codes_stock(product, 1, codes=[sold])
    codes_mark_delivered(list(Code.objects.filter(batch=sold_batch)), product)
    lines = [ks_code(number) for number in range(1, 100_001)]
    planted = {
        3: ("", RejectReason.BLANK),
        10: ("ks-12", RejectReason.TOO_SHORT),
        4_999: (lines[0].lower(), RejectReason.DUPLICATE_IN_FILE),  # same chunk as line 1
        5_001: (f"  {lines[1]} ", RejectReason.DUPLICATE_IN_FILE),  # next chunk
        7_777: (in_stock, RejectReason.DUPLICATE_IN_STOCK),
        50_000: (sold.lower(), RejectReason.DUPLICATE_SOLD),
        60_000: ("KS-GGGGGGGGGG", RejectReason.PATTERN),
        99_999: ("KS-00000000000000", RejectReason.TOO_LONG),
        100_000: (held_back, RejectReason.DUPLICATE_IN_STOCK),
    }
    for line_no, (code, _reason) in planted.items():
        lines[line_no - 1] = code
    data = "\n".join(lines).encode() + b"\n"
    path = tmp_path / "codes.txt"
    path.write_bytes(data)
    batch = new_batch(product)

    batch = batch_import(batch_id=batch.pk, path_or_file=str(path), file_format="txt")

    assert batch.status == BatchStatus.QUARANTINED
    assert rejections(batch) == [(line_no, reason) for line_no, (_, reason) in planted.items()]
    assert (batch.lines_read, batch.codes_imported, batch.lines_rejected) == (100_000, 99_991, 9)
    assert batch.file_sha256 == hashlib.sha256(data).hexdigest()
    assert batch_code_counts(batch_id=batch.pk) == {"held_back": 99_991}
    assert StockLevel.objects.get(product=product).codes_available == 1  # only in_stock's
    assert moves(batch) == [("", "importing", ""), ("importing", "quarantined", "")]
    first = Code.objects.get(
        product=product, blind_index=vault.blind_index(lines[0], product_id=product.pk)
    )
    assert (first.batch_id, code_plaintext(first)) == (batch.pk, lines[0])
    assert batch_rejections_by_reason(batch_id=batch.pk) == {
        "blank": 1,
        "duplicate_in_file": 2,
        "duplicate_in_stock": 2,
        "duplicate_sold": 1,
        "pattern": 1,
        "too_long": 1,
        "too_short": 1,
    }
    assert next(batch_rejection_report(batch_id=batch.pk)) == (3, "blank", "The line has no code.")
    assert batch_import_progress(batch_id=batch.pk) is None


def test_progress_is_in_the_cache_while_the_import_runs(monkeypatch):
    monkeypatch.setattr(imports, "CHUNK_SIZE", 1_000)
    product = ProductFactory()
    batch = new_batch(product)
    data = "".join(f"{ks_code(number)}\n" for number in range(3_500)).encode()
    seen = []

    def on_progress(progress):
        # What another process would see: the cache, and the batch row as committed.
        live = batch_import_progress(batch_id=batch.pk)
        seen.append((live.lines_read, live.codes_imported, live.bytes_read, live.bytes_total))

    batch = batch_import(
        batch_id=batch.pk,
        path_or_file=io.BytesIO(data),
        file_format="txt",
        on_progress=on_progress,
    )

    assert [(lines, imported) for lines, imported, *_ in seen] == [
        (1_000, 1_000),
        (2_000, 2_000),
        (3_000, 3_000),
        (3_500, 3_500),
    ]
    # Bytes are counted as read from the file, a buffer ahead of the lines parsed.
    bytes_read = [read for *_, read, _total in seen]
    assert bytes_read == sorted(bytes_read)
    assert seen[-1][2:] == (len(data), len(data))
    assert batch_import_progress(batch_id=batch.pk) is None
    assert batch.lines_read == 3_500


def _malformed_csv() -> bytes:
    # 1,500 good rows (three chunks of 500 already written), then a quote that
    # never closes and swallows more than csv accepts in one field.
    rows = "".join(f"{ks_code(number)}\n" for number in range(1_500))
    return ("code\n" + rows + '"' + "A" * 200_000 + "\n").encode()


@pytest.mark.parametrize(
    ("data", "file_format", "failure"),
    [
        (
            b"KS-0000000001\n\x00\x01\x02\x03PK\x03\x04",
            "txt",
            "The file is not a text file. Upload the codes as plain text or CSV.",
        ),
        (
            "KS-0000000001\nKS-000000CAFÉ\n".encode("latin-1"),
            "txt",
            "The file is not UTF-8 text (the first bad byte is at position 26). "
            "Save it as UTF-8 and upload it again.",
        ),
        (
            "".join(f"{ks_code(number)}\n" for number in range(200)).encode(),
            "txt",
            "The file is larger than 1000\xa0bytes.",
        ),
        (_malformed_csv(), "csv", "The CSV file is malformed at line 1502."),
        (
            b"serial\nKS-0000000001\n",
            "csv",
            "The first row of the CSV file must name a “code” column.",
        ),
    ],
    ids=["binary", "latin-1", "oversized", "malformed-csv", "no-code-column"],
)
def test_a_refused_file_imports_nothing_and_fails_the_batch_with_the_reason(
    data, file_format, failure, settings, monkeypatch
):
    settings.KEYSHOP_IMPORT_MAX_BYTES = 1_000 if len(data) < 10_000 else 1_000_000
    monkeypatch.setattr(imports, "CHUNK_SIZE", 500)
    product = ProductFactory()
    batch = new_batch(product)

    batch = batch_import(batch_id=batch.pk, path_or_file=io.BytesIO(data), file_format=file_format)

    assert batch.status == BatchStatus.FAILED
    assert batch.failure == failure
    assert (batch.lines_read, batch.codes_imported, batch.lines_rejected) == (0, 0, 0)
    assert not Code.objects.filter(product=product).exists()
    assert not BatchRejection.objects.filter(batch=batch).exists()
    assert moves(batch) == [("", "importing", ""), ("importing", "failed", failure)]
    assert batch_import_progress(batch_id=batch.pk) is None


def test_a_missing_file_fails_the_batch(tmp_path):
    batch = new_batch(ProductFactory())

    batch = batch_import(batch_id=batch.pk, path_or_file=tmp_path / "gone.txt", file_format="txt")

    assert batch.status == BatchStatus.FAILED
    assert batch.failure == "The uploaded file is no longer there. Upload it again."


def test_a_code_stored_by_a_concurrent_import_fails_the_batch_and_imports_nothing(monkeypatch):
    product = ProductFactory()
    codes_stock(product, 1, codes=[ks_code(2)], status="quarantined")
    # As if the other import committed its codes after this one compared.
    monkeypatch.setattr(imports, "_against_stored_codes", lambda product_id, chunk: chunk)
    batch = new_batch(product)

    batch = batch_import(
        batch_id=batch.pk,
        path_or_file=io.BytesIO(f"{ks_code(1)}\n{ks_code(2)}\n".encode()),
        file_format="txt",
    )

    assert batch.status == BatchStatus.FAILED
    assert batch.failure.startswith("Another import stored some of these codes at the same time.")
    assert not Code.objects.filter(batch=batch).exists()


def test_importing_a_batch_again_is_a_no_op():
    product = ProductFactory()
    batch = codes_stock(product, 2, status="quarantined")

    again = batch_import(
        batch_id=batch.pk, path_or_file=io.BytesIO(b"KS-0000000009\n"), file_format="txt"
    )

    assert again.status == BatchStatus.QUARANTINED
    assert again.codes_imported == 2
    assert Code.objects.filter(batch=batch).count() == 2


def test_a_product_without_a_code_rule_gets_the_default_lengths():
    product = ProductFactory()
    batch = new_batch(product)
    data = b"abcd\nabcde\n" + b"X" * 65 + b"\n"

    batch = batch_import(batch_id=batch.pk, path_or_file=io.BytesIO(data), file_format="txt")

    assert rejections(batch) == [(1, "too_short"), (3, "too_long")]
    assert batch.codes_imported == 1


def test_a_csv_file_is_imported_from_its_code_column():
    product = ProductFactory()
    batch = new_batch(product)
    data = b"ref,Code\r\nr1,ks-0000000001\r\nr2,\r\nr3,KS-0000000002\r\n"

    batch = batch_import(batch_id=batch.pk, path_or_file=io.BytesIO(data), file_format="csv")

    assert batch.status == BatchStatus.QUARANTINED
    assert rejections(batch) == [(3, "blank")]
    assert sorted(code_plaintext(code) for code in Code.objects.filter(batch=batch)) == [
        "KS-0000000001",
        "KS-0000000002",
    ]
    assert all(code.status == CodeStatus.HELD_BACK for code in Code.objects.filter(batch=batch))


def test_codes_are_sealed_under_the_current_key_and_bound_to_their_product():
    product = ProductFactory()
    batch = codes_stock(product, 1, codes=["KS-0000000001"], status="quarantined")

    code = Code.objects.get(batch=batch)

    assert code.key_id == vault.current_key_id()
    assert bytes(code.blind_index) == vault.blind_index("KS-0000000001", product_id=product.pk)
    assert b"KS-0000000001" not in bytes(code.ciphertext)
    assert code_plaintext(code) == "KS-0000000001"


def test_the_same_code_may_be_stocked_for_two_products():
    # Blind indexes are per product: a key for one platform says nothing of another.
    first, second = ProductFactory(), ProductFactory()
    codes_stock(first, 1, codes=["KS-0000000001"])

    batch = codes_stock(second, 1, codes=["KS-0000000001"])

    assert batch.codes_imported == 1


def _stored_values() -> Iterator[tuple[str, object]]:
    """(table, value) for every column of every row of every table."""
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            # Table names come from the database itself, not from input.
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            for row in cursor.fetchall():
                for value in row:
                    yield table, value


def _contains(value: object, marker: str) -> bool:
    if isinstance(value, bytes | memoryview):
        return marker.encode() in bytes(value).upper()
    return marker in str(value).upper()


def test_canary_codes_appear_in_no_table_log_task_argument_or_admin_page(
    otp_admin_client, caplog, private_media, django_capture_on_commit_callbacks
):
    marker = f"CANARY{secrets.token_hex(4).upper()}"
    canaries = [f"{marker}-{secrets.token_hex(6)}" for _ in range(1_000)]
    # Rejected lines too: a duplicate and a too long code, both carrying the marker.
    data = "\n".join([*canaries, canaries[0], marker * 10]).encode()
    product = ProductFactory()
    supplier = SupplierFactory()
    task_calls = []

    def record_task(sender, args, kwargs, **extra):
        task_calls.append((sender.name, args, kwargs))

    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django.db.backends")
    task_prerun.connect(record_task)
    connection.force_debug_cursor = True  # log every query with its parameters
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = otp_admin_client.post(
                reverse("admin:fulfillment_batch_add"),
                {
                    "supplier": supplier.pk,
                    "product": product.pk,
                    "file_format": "txt",
                    "file": SimpleUploadedFile("canaries.txt", data),
                },
            )
        batch = Batch.objects.get()
        with django_capture_on_commit_callbacks(execute=True):
            otp_admin_client.post(
                reverse("admin:fulfillment_batch_changelist"),
                {"action": "make_sellable", "_selected_action": [batch.pk]},
            )
        pages = [
            otp_admin_client.get(url)
            for url in [
                reverse("admin:fulfillment_batch_changelist"),
                reverse("admin:fulfillment_batch_change", args=[batch.pk]),
                reverse("admin:fulfillment_stocklevel_changelist"),
            ]
        ]
        report = otp_admin_client.get(
            reverse("admin:fulfillment_batch_rejections", args=[batch.pk])
        )
    finally:
        connection.force_debug_cursor = False
        task_prerun.disconnect(record_task)

    assert response.status_code == 302
    batch.refresh_from_db()
    assert (batch.status, batch.codes_imported, batch.lines_rejected) == ("sellable", 1_000, 2)
    assert any("INSERT" in record.getMessage() for record in caplog.records)  # queries were logged
    imports_queued = [
        (args, kwargs)
        for name, args, kwargs in task_calls
        if name == "fulfillment.tasks.batch_import_task"
    ]
    assert len(imports_queued) == 1
    args, kwargs = imports_queued[0]
    assert (args[0], args[2], kwargs) == (batch.pk, "txt", {})
    assert args[1].startswith(str(private_media / "imports"))
    assert not list(private_media.joinpath("imports").iterdir())  # the upload is deleted
    leaks = [table for table, value in _stored_values() if _contains(value, marker)]
    assert leaks == []
    assert marker not in caplog.text.upper()
    assert marker not in repr(task_calls).upper()
    assert [page.status_code for page in pages] == [200, 200, 200]
    assert not any(marker in page.content.decode().upper() for page in pages)
    assert marker not in b"".join(report.streaming_content).decode().upper()


def test_batch_imported_is_sent_after_commit_only_for_an_imported_batch(
    django_capture_on_commit_callbacks,
):
    received = []

    def receiver(sender, batch_id, **kwargs):
        received.append((sender, batch_id))

    batch_imported.connect(receiver)
    try:
        imported, refused = new_batch(ProductFactory()), new_batch(ProductFactory())
        with django_capture_on_commit_callbacks(execute=True):
            batch_import(
                batch_id=imported.pk, path_or_file=io.BytesIO(b"KS-0000000001\n"), file_format="txt"
            )
            batch_import(batch_id=refused.pk, path_or_file=io.BytesIO(b"\x00"), file_format="txt")
            batch_import(
                batch_id=imported.pk, path_or_file=io.BytesIO(b"KS-0000000002\n"), file_format="txt"
            )
    finally:
        batch_imported.disconnect(receiver)

    assert received == [(Batch, imported.pk)]


def test_a_batch_left_importing_for_hours_is_failed_and_its_stored_file_deleted(settings, tmp_path):
    from datetime import timedelta

    from django.utils import timezone

    from fulfillment.services.imports import batches_stuck_importing_fail

    settings.MEDIA_ROOT = str(tmp_path)
    product = ProductFactory()
    stuck, recent, imported = new_batch(product), new_batch(product), new_batch(product)
    batch_import(batch_id=imported.pk, path_or_file=io.BytesIO(b"DONE-0001\n"), file_format="txt")
    (tmp_path / "imports").mkdir()
    left_over = tmp_path / "imports" / f"batch-{stuck.pk}-0123abcd"
    left_over.write_bytes(b"CODE-IN-CLEAR-1\n")
    kept = tmp_path / "imports" / f"batch-{recent.pk}-4567ef01"
    kept.write_bytes(b"CODE-IN-CLEAR-2\n")
    hours_ago = timezone.now() - timedelta(hours=settings.KEYSHOP_IMPORT_STUCK_HOURS, minutes=1)
    Batch.objects.filter(pk__in=[stuck.pk, imported.pk]).update(updated_at=hours_ago)

    failed = batches_stuck_importing_fail()
    again = batches_stuck_importing_fail()

    statuses = dict(Batch.objects.values_list("pk", "status"))
    stuck.refresh_from_db()
    assert (failed, again) == (1, 0)
    assert statuses == {stuck.pk: "failed", recent.pk: "importing", imported.pk: "quarantined"}
    assert stuck.failure == "The import did not finish. Upload the file again."
    assert moves(stuck)[-1] == ("importing", "failed", stuck.failure)
    assert not left_over.exists()
    assert kept.exists()
