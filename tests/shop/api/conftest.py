import pytest
from rest_framework.test import APIClient

from tests.shop.api.factories import ResellerFactory, key_for
from tests.shop.api.webhooks_support import Receiver


@pytest.fixture
def reseller():
    return ResellerFactory()


@pytest.fixture
def client_for():
    """``client_for(reseller, scopes=None)``: an API client sending a new key of the reseller."""

    def make(reseller, scopes=None) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key_for(reseller, scopes)}")
        return client

    return make


@pytest.fixture
def api(reseller, client_for) -> APIClient:
    return client_for(reseller)


@pytest.fixture
def receiver():
    """``receiver(statuses=())``: a webhook receiver on 127.0.0.1, closed after the test."""
    made: list[Receiver] = []

    def start(statuses=()):
        made.append(Receiver(list(statuses)))
        return made[-1]

    yield start
    for r in made:
        r.close()
