import csv
import io

import pytest
from django.urls import reverse

from compliance.selectors import PROVENANCE_HEADER
from fulfillment import vault
from tests.compliance.conftest import otp_login, staff_user
from tests.compliance.factories import batch_imported, provenance_fill
from tests.fulfillment.factories import SupplierFactory, codes_mark_delivered
from tests.shop.factories import ProductFactory

pytestmark = pytest.mark.django_db

URL = "admin:compliance_provenance_export"


def _rows(response) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(text)))


@pytest.fixture
def sold_batch(django_capture_on_commit_callbacks):
    product = ProductFactory(name="Star Voyager")
    supplier = SupplierFactory(name="Acme Keys")
    batch = batch_imported(
        product,
        ["CODE-AAAA-1", "CODE-AAAA-2"],
        supplier=supplier,
        capture=django_capture_on_commit_callbacks,
    )
    provenance_fill(batch, invoice_reference="INV-77")
    line = codes_mark_delivered([batch.codes.order_by("pk").first()], product)
    return batch, line.order


def test_the_export_streams_each_codes_fingerprint_never_the_code(client, sold_batch):
    batch, order = sold_batch
    otp_login(client, staff_user("auditor", "compliance.export_provenance"))

    response = client.get(reverse(URL), {"batch": batch.pk})

    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    header, first, second = _rows(response)
    assert header == list(PROVENANCE_HEADER)
    fingerprint = vault.blind_index("CODE-AAAA-1", product_id=batch.product_id).hex()[:16]
    assert first[:6] == [
        fingerprint,
        "Star Voyager",
        str(batch.pk),
        "Acme Keys",
        "INV-77",
        "AUTH-1",
    ]
    assert (first[9], first[11]) == ("delivered", order.number)
    assert (second[9], second[11]) == ("held_back", "")
    assert first[8] == batch.file_sha256
    body = str(_rows(client.get(reverse(URL), {"batch": batch.pk})))
    assert "CODE-AAAA" not in body


@pytest.mark.parametrize("scope", ["product", "supplier"])
def test_the_export_covers_a_product_or_a_supplier(client, sold_batch, scope):
    batch, _order = sold_batch
    otp_login(client, staff_user("auditor", "compliance.export_provenance"))
    value = batch.product_id if scope == "product" else batch.supplier_id

    rows = _rows(client.get(reverse(URL), {scope: value}))

    assert len(rows) == 3


def test_the_export_is_for_permitted_staff_only(client, sold_batch):
    batch, _order = sold_batch

    assert client.get(reverse(URL), {"batch": batch.pk}).status_code == 302
    otp_login(client, staff_user("someone", "compliance.view_batchprovenance"))
    assert client.get(reverse(URL), {"batch": batch.pk}).status_code == 403
