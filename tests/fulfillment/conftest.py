import base64
import json

import pytest

# The same fixed key ring as config/settings_test.py, as a fixture that tests can
# change (changing these settings resets the vault's cached key ring).
TEST_KEY = bytes(range(32))
TEST_KEYRING = json.dumps({"current": "t1", "keys": {"t1": base64.b64encode(TEST_KEY).decode()}})


@pytest.fixture(autouse=True)
def vault_settings(settings):
    settings.VAULT_KEYS = TEST_KEYRING
    settings.VAULT_KEYS_FILE = ""
    settings.BLIND_INDEX_KEY = "test-blind-index-key"
    return settings


@pytest.fixture(autouse=True)
def private_media(settings, tmp_path):
    """Uploaded code files go to a fresh folder, never the developer's var/."""
    settings.MEDIA_ROOT = tmp_path / "private"
    return settings.MEDIA_ROOT


@pytest.fixture
def no_release_checks(settings):
    """Fulfillment alone: higher apps' release checks (compliance) are tested with those apps."""
    settings.KEYSHOP_BATCH_RELEASE_CHECKS = []
    return settings
