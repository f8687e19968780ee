"""The code vault: encrypts codes at rest and derives their blind index.

The only module that imports ``cryptography``. Codes are sealed with AES-256-GCM
under the current key of a key ring; old keys stay in the ring so existing rows
still open, until ``reseal`` has moved every row to the current key.

The key ring comes from ``VAULT_KEYS`` (JSON) or ``VAULT_KEYS_FILE`` (a path to
the same JSON): ``{"current": "<key id>", "keys": {"<key id>": "<base64 of 32 bytes>"}}``.
In DEBUG a missing key ring file is generated with one fresh key.

Nothing here logs a code or puts one in an exception message or a repr.
"""

import base64
import binascii
import contextlib
import functools
import hashlib
import hmac
import json
import os
import re
import secrets
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.errors import KeyshopError

KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # the size GCM is designed for
TAG_BYTES = 16
# Version prefixes: a later change of encoding gets a new prefix, so old and new
# inputs can never collide.
_AAD_PREFIX = b"keyshop.vault.aad.v1\x00"
_BLIND_INDEX_PREFIX = b"keyshop.vault.blind-index.v1\x00"
_GENERATED_KEY_ID = re.compile(r"k(\d+)")


class VaultError(KeyshopError):
    """A sealed code could not be opened: unknown key, altered or moved ciphertext."""

    code = "vault_error"
    default_message = _("A stored code could not be read. Staff have to look into it.")
    http_status = 500


@dataclass(frozen=True)
class Sealed:
    """A code as stored: the id of the key that sealed it and nonce + ciphertext + tag."""

    key_id: str
    ciphertext: bytes

    def __repr__(self) -> str:
        return f"Sealed(key_id={self.key_id!r}, {len(self.ciphertext)} bytes)"


@dataclass(frozen=True)
class KeyRing:
    """The current key id and every key that may still open stored codes."""

    current: str
    keys: Mapping[str, bytes] = field(repr=False)

    def __post_init__(self) -> None:
        # A read-only copy: a ring shared by the whole process must not change under it.
        object.__setattr__(self, "keys", MappingProxyType(dict(self.keys)))

    @classmethod
    def from_json(cls, text: str, *, source: str) -> "KeyRing":
        """Parse and validate the key ring JSON; ``source`` names it in errors.

        Errors never quote the text: it holds the keys.
        """
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ImproperlyConfigured(
                f"{source} is not valid JSON ({exc.msg} at line {exc.lineno})."
            ) from None
        if (
            not isinstance(data, dict)
            or not isinstance(data.get("current"), str)
            or not isinstance(data.get("keys"), dict)
        ):
            raise ImproperlyConfigured(
                f'{source} must be {{"current": "<key id>", "keys": {{"<key id>": "<base64>"}}}}.'
            )
        keys = {
            key_id: _decode_key(value, key_id=key_id, source=source)
            for key_id, value in data["keys"].items()
        }
        if data["current"] not in keys:
            raise ImproperlyConfigured(
                f"{source}: the current key {data['current']!r} is not among its keys."
            )
        return cls(current=data["current"], keys=keys)

    def to_json(self) -> str:
        keys = {key_id: base64.b64encode(key).decode("ascii") for key_id, key in self.keys.items()}
        return json.dumps({"current": self.current, "keys": keys}, indent=2) + "\n"

    def cipher(self, key_id: str) -> AESGCM:
        try:
            return AESGCM(self.keys[key_id])
        except KeyError:
            raise VaultError(
                gettext("Vault key %(key_id)s is not in the key ring.") % {"key_id": key_id},
                key_id=key_id,
            ) from None


def _decode_key(value: object, *, key_id: str, source: str) -> bytes:
    key = b""
    # A bad value is reported below by key id only: the value is the secret.
    if isinstance(value, str):
        with contextlib.suppress(binascii.Error):
            key = base64.b64decode(value, validate=True)
    if len(key) != KEY_BYTES:
        raise ImproperlyConfigured(
            f"{source}: key {key_id!r} must be the base64 of exactly {KEY_BYTES} random bytes."
        )
    return key


def _new_key() -> bytes:
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def _write_private_temp(path: Path, text: str) -> Path:
    """Write ``text`` to a new 0600 file beside ``path``, so it can be moved into place whole."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mkstemp: mode 0600
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    return Path(temp)


def _keyring_file_create(path: Path) -> None:
    """Create the development key ring unless it exists.

    The file is linked into place complete, and never over an existing one: when
    the web process and the worker start together, one wins and both then read
    the same keys (two different keys would leave codes no one can open).
    """
    temp = _write_private_temp(path, KeyRing(current="k1", keys={"k1": _new_key()}).to_json())
    try:
        with contextlib.suppress(FileExistsError):  # another process was first: use its ring
            os.link(temp, path)
    finally:
        temp.unlink()


@functools.cache
def keyring() -> KeyRing:
    """The key ring from settings, loaded once per process."""
    if settings.VAULT_KEYS:
        return KeyRing.from_json(settings.VAULT_KEYS, source="VAULT_KEYS")
    if not settings.VAULT_KEYS_FILE:
        raise ImproperlyConfigured("Neither VAULT_KEYS nor VAULT_KEYS_FILE is set.")
    path = Path(settings.VAULT_KEYS_FILE)
    if not path.exists() and settings.DEBUG:
        _keyring_file_create(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ImproperlyConfigured(
            f"VAULT_KEYS_FILE {path} cannot be read: {exc.strerror}."
        ) from None
    return KeyRing.from_json(text, source=f"VAULT_KEYS_FILE {path}")


def keyring_reset_cache() -> None:
    """Forget the loaded key ring; the next use reads settings (and the file) again."""
    keyring.cache_clear()


@receiver(setting_changed)
def _keyring_reset_on_setting_change(*, setting: str, **kwargs: object) -> None:
    # override_settings in tests swaps key rings; a stale cached ring would
    # silently keep the old keys.
    if setting in {"VAULT_KEYS", "VAULT_KEYS_FILE"}:
        keyring_reset_cache()


def keyring_add_key(path: Path | str) -> str:
    """Add a fresh key to the key ring file, make it current and return its id.

    For rotation. The old keys stay, so every stored code still opens; remove an
    old key only after ``reseal`` has moved every row off it and every process has
    restarted (until then, other processes keep sealing with their cached ring).
    Meant for one operator at a time: two concurrent runs would each add a key
    and only the last file written survives.
    """
    path = Path(path)
    ring = KeyRing.from_json(path.read_text(encoding="utf-8"), source=str(path))
    numbers = [int(m[1]) for key_id in ring.keys if (m := _GENERATED_KEY_ID.fullmatch(key_id))]
    key_id = f"k{max(numbers, default=0) + 1}"
    rotated = KeyRing(current=key_id, keys={**ring.keys, key_id: _new_key()})
    os.replace(_write_private_temp(path, rotated.to_json()), path)
    keyring_reset_cache()
    return key_id


def current_key_id() -> str:
    return keyring().current


def needs_rotation(key_id: str) -> bool:
    """Whether a row sealed under ``key_id`` should be resealed under the current key."""
    return key_id != current_key_id()


def _associated_data(product_id: int, blind_index: bytes) -> bytes:
    # Binds the ciphertext to its row: the blind index is unique per product, so
    # (product, blind index) names exactly one row. A ciphertext copied into
    # another row or product fails authentication instead of delivering the
    # wrong code. The product id has a fixed width, so the encoding is unambiguous.
    return _AAD_PREFIX + product_id.to_bytes(8, "big") + blind_index


def seal(plaintext: str, *, product_id: int, blind_index: bytes) -> Sealed:
    """Encrypt a code under the current key, bound to its product and blind index."""
    ring = keyring()
    nonce = secrets.token_bytes(NONCE_BYTES)  # fresh per call: GCM breaks if one repeats
    ciphertext = ring.cipher(ring.current).encrypt(
        nonce, plaintext.encode("utf-8"), _associated_data(product_id, blind_index)
    )
    return Sealed(key_id=ring.current, ciphertext=nonce + ciphertext)


def open_sealed(sealed: Sealed, *, product_id: int, blind_index: bytes) -> str:
    """Decrypt a sealed code; VaultError if the key is unknown or the data was altered or moved."""
    cipher = keyring().cipher(sealed.key_id)
    data = sealed.ciphertext
    if len(data) < NONCE_BYTES + TAG_BYTES:
        raise VaultError(key_id=sealed.key_id)
    try:
        plaintext = cipher.decrypt(
            data[:NONCE_BYTES], data[NONCE_BYTES:], _associated_data(product_id, blind_index)
        )
    except InvalidTag:
        raise VaultError(key_id=sealed.key_id) from None
    return plaintext.decode("utf-8")


def reseal(sealed: Sealed, *, product_id: int, blind_index: bytes) -> Sealed:
    """Open a sealed code and seal it again under the current key (key rotation)."""
    plaintext = open_sealed(sealed, product_id=product_id, blind_index=blind_index)
    return seal(plaintext, product_id=product_id, blind_index=blind_index)


def blind_index(normalised_code: str, *, product_id: int) -> bytes:
    """A keyed hash of a normalised code, per product: finds and de-duplicates without decrypting.

    Keyed with BLIND_INDEX_KEY (separate from the vault keys, and not rotated with
    them, since every stored index would change), so a database dump alone cannot
    confirm a guessed code.
    """
    message = _BLIND_INDEX_PREFIX + product_id.to_bytes(8, "big") + normalised_code.encode("utf-8")
    return hmac.new(settings.BLIND_INDEX_KEY.encode("utf-8"), message, hashlib.sha256).digest()
