import base64
import json
import random
import stat
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from core.errors import KeyshopError
from fulfillment import vault
from fulfillment.vault import KeyRing, Sealed, VaultError

CODE = "ABCDE-FGHIJ-KLMNO"
ZERO_KEY = base64.b64encode(bytes(32)).decode()
# Letters, digits, hyphens and a few non-ASCII characters: a code is any text.
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_ éß中ÿ€"


def sealed_code(code: str = CODE, *, product_id: int = 1) -> tuple[Sealed, bytes]:
    index = vault.blind_index(code, product_id=product_id)
    return vault.seal(code, product_id=product_id, blind_index=index), index


def write_keyring(path: Path, keys: dict[str, bytes], *, current: str) -> None:
    encoded = {key_id: base64.b64encode(key).decode() for key_id, key in keys.items()}
    path.write_text(json.dumps({"current": current, "keys": encoded}))


@pytest.fixture
def keyring_file(tmp_path, vault_settings) -> Path:
    path = tmp_path / "vault_keys.json"
    write_keyring(path, {"k1": bytes(32)}, current="k1")
    vault_settings.VAULT_KEYS = ""
    vault_settings.VAULT_KEYS_FILE = str(path)
    return path


def test_10000_random_codes_round_trip():
    rng = random.Random(20240601)
    for _ in range(10_000):
        # given a random code of a random product
        code = "".join(rng.choices(ALPHABET, k=rng.randint(1, 60)))
        product_id = rng.randint(1, 2**40)
        index = vault.blind_index(code, product_id=product_id)

        # when it is sealed and opened
        sealed = vault.seal(code, product_id=product_id, blind_index=index)
        opened = vault.open_sealed(sealed, product_id=product_id, blind_index=index)

        # then the code comes back unchanged, under the current key
        assert opened == code
        assert sealed.key_id == "t1"
        assert len(sealed.ciphertext) == 12 + len(code.encode()) + 16


def test_equal_codes_seal_to_different_ciphertexts():
    index = vault.blind_index(CODE, product_id=1)

    first = vault.seal(CODE, product_id=1, blind_index=index)
    second = vault.seal(CODE, product_id=1, blind_index=index)

    assert first.ciphertext != second.ciphertext
    assert first.ciphertext[:12] != second.ciphertext[:12]  # a fresh nonce each time


def test_a_ciphertext_moved_to_another_product_does_not_open():
    sealed, index = sealed_code(product_id=1)

    with pytest.raises(VaultError):
        vault.open_sealed(sealed, product_id=2, blind_index=index)


def test_a_ciphertext_moved_to_another_row_does_not_open():
    # given two codes of one product: each row has its own blind index
    sealed, _ = sealed_code(CODE, product_id=1)
    other_index = vault.blind_index("ZZZZZ-ZZZZZ-ZZZZZ", product_id=1)

    # when the first ciphertext is read with the other row's blind index, it fails
    with pytest.raises(VaultError):
        vault.open_sealed(sealed, product_id=1, blind_index=other_index)


def test_every_flipped_bit_is_detected():
    # given a sealed code: nonce, encrypted code and tag
    sealed, index = sealed_code()
    assert len(sealed.ciphertext) == 12 + len(CODE) + 16

    for bit in range(len(sealed.ciphertext) * 8):
        # when any one bit is flipped, then it no longer opens
        altered = bytearray(sealed.ciphertext)
        altered[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(VaultError):
            vault.open_sealed(Sealed("t1", bytes(altered)), product_id=1, blind_index=index)


def test_a_truncated_ciphertext_does_not_open():
    sealed, index = sealed_code()

    for length in (0, 11, 27, len(sealed.ciphertext) - 1):
        with pytest.raises(VaultError):
            vault.open_sealed(
                Sealed("t1", sealed.ciphertext[:length]), product_id=1, blind_index=index
            )


def test_an_unknown_key_id_raises_vault_error_naming_the_key_not_the_code():
    sealed, index = sealed_code()

    with pytest.raises(VaultError) as raised:
        vault.open_sealed(Sealed("k9", sealed.ciphertext), product_id=1, blind_index=index)

    assert isinstance(raised.value, KeyshopError)
    assert raised.value.message == "Vault key k9 is not in the key ring."
    assert raised.value.details == {"key_id": "k9"}


def test_vault_errors_never_show_the_code():
    sealed, index = sealed_code()

    with pytest.raises(VaultError) as raised:
        vault.open_sealed(sealed, product_id=2, blind_index=index)

    assert raised.value.message == "A stored code could not be read. Staff have to look into it."
    assert CODE not in str(raised.value)
    assert CODE not in repr(raised.value)


def test_sealed_repr_is_short_and_shows_no_bytes():
    sealed, _ = sealed_code()

    assert repr(sealed) == "Sealed(key_id='t1', 45 bytes)"


def test_keyring_repr_shows_no_keys():
    assert repr(vault.keyring()) == "KeyRing(current='t1')"


def test_keyring_keys_cannot_be_changed():
    ring = KeyRing(current="a", keys={"a": bytes(32)})

    with pytest.raises(TypeError):
        ring.keys["b"] = bytes(32)  # type: ignore[index]


def test_rotation_moves_every_code_to_the_new_key(keyring_file):
    # given codes sealed under k1
    codes = [f"CODE-{number:05d}" for number in range(50)]
    rows = [sealed_code(code, product_id=3) for code in codes]
    assert {sealed.key_id for sealed, _ in rows} == {"k1"}

    # when a key is added and every row is resealed
    assert vault.keyring_add_key(keyring_file) == "k2"
    assert vault.current_key_id() == "k2"
    assert vault.needs_rotation("k1") is True
    assert vault.needs_rotation("k2") is False
    resealed = [vault.reseal(sealed, product_id=3, blind_index=index) for sealed, index in rows]

    # then, with k1 removed from the ring, every code still opens
    ring = json.loads(keyring_file.read_text())
    del ring["keys"]["k1"]
    keyring_file.write_text(json.dumps(ring))
    vault.keyring_reset_cache()
    opened = [
        vault.open_sealed(sealed, product_id=3, blind_index=index)
        for sealed, (_, index) in zip(resealed, rows, strict=True)
    ]
    assert opened == codes
    assert {sealed.key_id for sealed in resealed} == {"k2"}
    # and the old ciphertexts no longer do
    with pytest.raises(VaultError):
        vault.open_sealed(rows[0][0], product_id=3, blind_index=rows[0][1])


def test_keyring_add_key_keeps_the_old_keys_and_the_file_private(keyring_file):
    vault.keyring_add_key(keyring_file)
    vault.keyring_add_key(keyring_file)

    ring = json.loads(keyring_file.read_text())
    assert ring["current"] == "k3"
    assert sorted(ring["keys"]) == ["k1", "k2", "k3"]
    assert ring["keys"]["k1"] == ZERO_KEY
    assert len({ring["keys"][key_id] for key_id in ring["keys"]}) == 3
    assert stat.S_IMODE(keyring_file.stat().st_mode) == 0o600
    assert list(keyring_file.parent.iterdir()) == [keyring_file]  # no temporary file left


def test_the_keyring_file_is_generated_in_debug(tmp_path):
    path = tmp_path / "secrets" / "vault_keys.json"

    # override_settings resets the cached key ring (the vault listens for setting_changed)
    with override_settings(DEBUG=True, VAULT_KEYS="", VAULT_KEYS_FILE=str(path)):
        sealed, index = sealed_code()
        ring = json.loads(path.read_text())
        # a second process (here: a fresh cache) reads the same key, not a new one
        vault.keyring_reset_cache()
        opened = vault.open_sealed(sealed, product_id=1, blind_index=index)

    assert opened == CODE
    assert sealed.key_id == "k1"
    assert ring["current"] == "k1"
    assert len(base64.b64decode(ring["keys"]["k1"])) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert list(path.parent.iterdir()) == [path]


def test_no_keyring_file_is_generated_without_debug(tmp_path):
    path = tmp_path / "vault_keys.json"

    with (
        override_settings(DEBUG=False, VAULT_KEYS="", VAULT_KEYS_FILE=str(path)),
        pytest.raises(ImproperlyConfigured) as raised,
    ):
        vault.keyring()

    assert str(raised.value) == (
        f"VAULT_KEYS_FILE {path} cannot be read: No such file or directory."
    )
    assert not path.exists()


def test_override_settings_swaps_the_cached_keyring():
    assert vault.current_key_id() == "t1"
    other = json.dumps({"current": "o1", "keys": {"o1": ZERO_KEY}})

    with override_settings(VAULT_KEYS=other):
        assert vault.current_key_id() == "o1"

    assert vault.current_key_id() == "t1"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            "{not json",
            "VAULT_KEYS is not valid JSON (Expecting property name enclosed in "
            "double quotes at line 1).",
        ),
        ('["k1"]', 'VAULT_KEYS must be {"current": "<key id>", "keys": {"<key id>": "<base64>"}}.'),
        (
            '{"current": "k1"}',
            'VAULT_KEYS must be {"current": "<key id>", "keys": {"<key id>": "<base64>"}}.',
        ),
        (
            json.dumps({"current": "k1", "keys": {"k1": "not base64!"}}),
            "VAULT_KEYS: key 'k1' must be the base64 of exactly 32 random bytes.",
        ),
        (
            json.dumps({"current": "k1", "keys": {"k1": base64.b64encode(bytes(16)).decode()}}),
            "VAULT_KEYS: key 'k1' must be the base64 of exactly 32 random bytes.",
        ),
        (
            json.dumps({"current": "k1", "keys": {"k1": 42}}),
            "VAULT_KEYS: key 'k1' must be the base64 of exactly 32 random bytes.",
        ),
        (
            json.dumps({"current": "k2", "keys": {"k1": ZERO_KEY}}),
            "VAULT_KEYS: the current key 'k2' is not among its keys.",
        ),
    ],
)
def test_a_malformed_keyring_is_improperly_configured(vault_settings, config, message):
    vault_settings.VAULT_KEYS = config

    with pytest.raises(ImproperlyConfigured) as raised:
        vault.seal(CODE, product_id=1, blind_index=bytes(32))

    assert str(raised.value) == message


def test_blind_index_is_equal_for_equal_codes_and_differs_across_products():
    first = vault.blind_index(CODE, product_id=1)

    assert len(first) == 32
    assert vault.blind_index(CODE, product_id=1) == first
    assert vault.blind_index(CODE, product_id=2) != first
    assert vault.blind_index("ABCDE-FGHIJ-KLMNP", product_id=1) != first


def test_blind_index_depends_on_the_blind_index_key(vault_settings):
    first = vault.blind_index(CODE, product_id=1)

    vault_settings.BLIND_INDEX_KEY = "another-key"

    assert vault.blind_index(CODE, product_id=1) != first


def test_a_malformed_keyring_file_is_named_in_the_error(keyring_file):
    keyring_file.write_text("{}")
    vault.keyring_reset_cache()

    with pytest.raises(ImproperlyConfigured) as raised:
        vault.current_key_id()

    assert str(raised.value) == (
        f'VAULT_KEYS_FILE {keyring_file} must be {{"current": "<key id>", '
        '"keys": {"<key id>": "<base64>"}}.'
    )
