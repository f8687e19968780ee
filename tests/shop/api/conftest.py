import pytest
from rest_framework.test import APIClient

from tests.shop.api.factories import ResellerFactory, key_for


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
