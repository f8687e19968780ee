import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from core.errors import Conflict
from fulfillment.models import Batch, BatchStatus, Code, StockLevel
from fulfillment.services.batches import batch_code_counts
from fulfillment.services.imports import batch_create, batch_import
from tests.fulfillment.factories import SupplierFactory, codes_stock
from tests.shop.factories import ProductFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_release_checks")]

CHANGELIST = "admin:fulfillment_batch_changelist"


def refuse_release(batch, actor):
    raise Conflict("The supplier is not approved.")


def upload(client, product, supplier, data: bytes, *, name="codes.txt", file_format="txt"):
    return client.post(
        reverse("admin:fulfillment_batch_add"),
        {
            "supplier": supplier.pk,
            "product": product.pk,
            "file_format": file_format,
            "file": SimpleUploadedFile(name, data),
        },
    )


def test_the_batch_list_offers_the_upload_form_as_its_add_page(otp_admin_client):
    add_url = reverse("admin:fulfillment_batch_add")

    changelist = otp_admin_client.get(reverse(CHANGELIST)).content.decode()
    form = otp_admin_client.get(add_url).content.decode()

    assert f'<a href="{add_url}" class="addlink">Import codes</a>' in changelist
    assert 'enctype="multipart/form-data"' in form
    assert 'name="file"' in form
    assert 'value="Upload and import"' in form


def test_staff_upload_a_file_and_it_is_imported_in_the_background(
    otp_admin_client, private_media, django_capture_on_commit_callbacks
):
    product, supplier = ProductFactory(), SupplierFactory()
    data = b"ADM-000001\nADM-000002\nadm-000001\n\nADM-000003\n"

    with django_capture_on_commit_callbacks(execute=True):
        response = upload(otp_admin_client, product, supplier, data)

    batch = Batch.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("admin:fulfillment_batch_change", args=[batch.pk])
    assert (batch.status, batch.supplier, batch.file_name) == ("quarantined", supplier, "codes.txt")
    assert (batch.codes_imported, batch.lines_rejected) == (3, 2)
    assert batch.imported_by.username == "admin"
    assert list(private_media.joinpath("imports").iterdir()) == []

    page = otp_admin_client.get(response.url).content.decode()

    assert "Held back: 3" in page
    assert reverse("admin:fulfillment_batch_rejections", args=[batch.pk]) in page
    assert "ADM-00000" not in page


def test_the_rejection_report_lists_lines_and_reasons_without_codes(otp_admin_client):
    batch = batch_create(
        supplier=SupplierFactory(), product=ProductFactory(), file_name="f.txt", actor=None
    )
    data = b"ADM-000001\nADM-000001\nAD\n\n"
    batch_import(batch_id=batch.pk, path_or_file=io.BytesIO(data), file_format="txt")

    response = otp_admin_client.get(reverse("admin:fulfillment_batch_rejections", args=[batch.pk]))

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        f'attachment; filename="batch-{batch.pk}-rejected-lines.csv"'
    )
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows == [
        ["line", "reason", "message"],
        ["2", "duplicate_in_file", "The code repeats an earlier line of this file."],
        ["3", "too_short", "The code is shorter than this product's codes."],
        ["4", "blank", "The line has no code."],
    ]


def test_an_oversized_upload_is_refused_on_the_form_and_no_batch_is_made(
    otp_admin_client, settings, private_media
):
    settings.KEYSHOP_IMPORT_MAX_BYTES = 10

    response = upload(otp_admin_client, ProductFactory(), SupplierFactory(), b"ADM-000001\n" * 3)

    assert response.status_code == 200
    assert "The file is larger than 10\xa0bytes." in response.content.decode()
    assert not Batch.objects.exists()
    assert not private_media.joinpath("imports").exists()


def test_the_batch_list_shows_live_progress_while_importing(otp_admin_client, monkeypatch):
    monkeypatch.setattr("fulfillment.services.imports.CHUNK_SIZE", 1_000)
    batch = batch_create(
        supplier=SupplierFactory(), product=ProductFactory(), file_name="f.txt", actor=None
    )
    data = "".join(f"ADM-{number:06d}\n" for number in range(2_500)).encode()
    pages = []

    def look(progress):
        pages.append(otp_admin_client.get(reverse(CHANGELIST)).content.decode())

    batch_import(
        batch_id=batch.pk, path_or_file=io.BytesIO(data), file_format="txt", on_progress=look
    )

    assert "1,000 lines read" in pages[0]
    assert "2,000 lines read" in pages[1]
    assert "lines read" not in otp_admin_client.get(reverse(CHANGELIST)).content.decode()


def test_the_make_sellable_and_suspend_actions_move_batches_through_the_service(otp_admin_client):
    product = ProductFactory()
    batch = codes_stock(product, 3, status="quarantined")

    otp_admin_client.post(
        reverse(CHANGELIST), {"action": "make_sellable", "_selected_action": [batch.pk]}
    )

    assert batch_code_counts(batch_id=batch.pk) == {"available": 3}
    assert StockLevel.objects.get(product=product).codes_available == 3

    otp_admin_client.post(
        reverse(CHANGELIST), {"action": "suspend", "_selected_action": [batch.pk]}
    )

    batch.refresh_from_db()
    assert batch.status == BatchStatus.SUSPENDED
    assert StockLevel.objects.get(product=product).codes_available == 0
    assert batch.events.last().actor.username == "admin"


def test_a_refused_action_shows_why_and_changes_nothing(otp_admin_client, settings):
    settings.KEYSHOP_BATCH_RELEASE_CHECKS = [f"{__name__}.refuse_release"]
    batch = codes_stock(ProductFactory(), 2, status="quarantined")

    response = otp_admin_client.post(
        reverse(CHANGELIST),
        {"action": "make_sellable", "_selected_action": [batch.pk]},
        follow=True,
    )

    assert f"Batch #{batch.pk}: The supplier is not approved." in response.content.decode()
    batch.refresh_from_db()
    assert batch.status == BatchStatus.QUARANTINED
    assert Code.objects.filter(batch=batch, status="available").count() == 0


def test_a_batch_page_is_read_only(otp_admin_client):
    batch = codes_stock(ProductFactory(), 1, status="quarantined")
    url = reverse("admin:fulfillment_batch_change", args=[batch.pk])

    otp_admin_client.post(url, {"status": "sellable", "codes_imported": 99})

    batch.refresh_from_db()
    assert (batch.status, batch.codes_imported) == ("quarantined", 1)
    assert 'name="_save"' not in otp_admin_client.get(url).content.decode()


def test_stock_levels_show_counters_read_only_and_the_threshold_editable(otp_admin_client):
    product = ProductFactory()
    codes_stock(product, 2)
    url = reverse("admin:fulfillment_stocklevel_change", args=[product.pk])

    response = otp_admin_client.post(url, {"codes_available": 500, "low_stock_threshold": 3})

    assert response.status_code == 302
    level = StockLevel.objects.get(product=product)
    assert (level.codes_available, level.low_stock_threshold) == (2, 3)
