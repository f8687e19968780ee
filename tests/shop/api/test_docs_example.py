"""docs/api.md's complete example, run as written against a live server."""

import hashlib
import hmac
import re
import time
from pathlib import Path

import pytest

from fulfillment.models import CodeReveal
from shop.models import Order, ResellerApiKey
from tests.fulfillment.factories import codes_stock
from tests.shop.api.factories import ResellerFactory, fund, key_for
from tests.shop.factories import ProductFactory

pytestmark = pytest.mark.django_db(transaction=True)

DOC = Path(__file__).resolve().parents[3] / "docs" / "api.md"


def _example() -> str:
    text = DOC.read_text()
    block = re.search(r"<!-- example:start -->\s*```python\n(.*?)```", text, re.DOTALL)
    return block.group(1)


def test_the_documented_example_goes_from_a_key_to_a_delivered_code(
    live_server, monkeypatch, capsys
):
    reseller = ResellerFactory()
    product = ProductFactory(name="Starfield (Steam)", price_minor=3999, currency="EUR")
    codes_stock(product, 2, codes=["STAR-0001-AAAA", "STAR-0002-BBBB"])
    fund(reseller, 10_000)
    monkeypatch.setenv("KEYSHOP_API_URL", f"{live_server.url}/api/v1")
    monkeypatch.setenv("KEYSHOP_API_KEY", key_for(reseller))

    namespace: dict = {"__name__": "docs_example"}
    exec(compile(_example(), str(DOC), "exec"), namespace)  # noqa: S102 (our own docs)

    printed = capsys.readouterr().out
    order = Order.objects.get()
    assert order.status == "delivered"
    assert re.search(rf"{order.number} Starfield \(Steam\) STAR-000[12]-\w+", printed)
    assert ResellerApiKey.objects.filter(reseller=reseller, name="order bot").count() == 1
    assert CodeReveal.objects.count() >= 1
    signature_check = namespace["verify"]
    body = b'{"id":"x"}'
    t = int(time.time())
    v1 = hmac.new(b"whsec_test", f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    assert signature_check("whsec_test", f"t={t},v1={v1}", body) is True
    assert signature_check("whsec_test", f"t={t},v1={v1}", body + b" ") is False
    assert signature_check("whsec_test", f"t={t - 3600},v1={v1}", body) is False
