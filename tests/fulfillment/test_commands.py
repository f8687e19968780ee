import base64
import io
import json

import pytest
from django.core.management import CommandError, call_command

from fulfillment import vault
from fulfillment.models import Batch, BatchStatus, Code
from fulfillment.services import batches
from tests.fulfillment.factories import SupplierFactory, code_plaintext, codes_stock
from tests.shop.factories import ProductFactory

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_import_codes_imports_a_file_and_prints_counts_never_codes(tmp_path):
    ProductFactory(slug="space-game")
    SupplierFactory(name="Acme Keys")
    codes = [f"CMD-{number:06d}" for number in range(12)]
    path = tmp_path / "delivery.csv"
    path.write_text("code\n" + "\n".join([*codes, codes[0], "", "x"]) + "\n")

    out, err = run("import_codes", "--supplier", "Acme Keys", "--product", "space-game", str(path))

    batch = Batch.objects.get()
    assert (batch.status, batch.file_name, batch.codes_imported) == (
        "quarantined",
        "delivery.csv",
        12,
    )
    assert out.splitlines() == [
        f"Batch #{batch.pk} is quarantined until it is released.",
        "Lines read: 15",
        "Codes imported: 12",
        "Lines rejected: 3",
        "  blank: 1 (The line has no code.)",
        "  duplicate_in_file: 1 (The code repeats an earlier line of this file.)",
        "  too_short: 1 (The code is shorter than this product's codes.)",
    ]
    assert err.startswith("\r15 lines read (100%)")
    assert not any(code in out + err for code in codes)
    assert sorted(code_plaintext(code) for code in Code.objects.filter(batch=batch)) == codes


def test_import_codes_records_the_user_and_honours_the_format(tmp_path, django_user_model):
    user = django_user_model.objects.create_user(username="stocker", is_staff=True)
    ProductFactory(slug="space-game")
    SupplierFactory(name="Acme Keys")
    path = tmp_path / "delivery.csv"  # a .csv name, but one code per line
    path.write_text("CMD-000001\nCMD-000002\n")

    run(
        "import_codes",
        "--supplier=Acme Keys",
        "--product=space-game",
        "--format=txt",
        "--user=stocker",
        str(path),
    )

    batch = Batch.objects.get()
    assert (batch.codes_imported, batch.imported_by) == (2, user)


def test_import_codes_exits_with_the_reason_when_the_file_is_refused(tmp_path):
    ProductFactory(slug="space-game")
    SupplierFactory(name="Acme Keys")
    path = tmp_path / "codes.txt"
    path.write_bytes(b"CMD-000001\n\x00\x00\x00")

    with pytest.raises(CommandError) as refused:
        run("import_codes", "--supplier", "Acme Keys", "--product", "space-game", str(path))

    batch = Batch.objects.get()
    assert str(refused.value) == (
        f"Batch #{batch.pk}: nothing was imported. "
        "The file is not a text file. Upload the codes as plain text or CSV."
    )
    assert batch.status == BatchStatus.FAILED
    assert not Code.objects.exists()


@pytest.mark.parametrize(
    ("supplier", "product", "message"),
    [
        ("Nobody", "space-game", "There is no supplier named Nobody. Add it in the admin first."),
        ("Acme Keys", "no-such-game", "There is no product no-such-game."),
    ],
)
def test_import_codes_refuses_unknown_names_before_creating_a_batch(
    tmp_path, supplier, product, message
):
    ProductFactory(slug="space-game")
    SupplierFactory(name="Acme Keys")
    path = tmp_path / "codes.txt"
    path.write_text("CMD-000001\n")

    with pytest.raises(CommandError, match=message):
        run("import_codes", "--supplier", supplier, "--product", product, str(path))

    assert not Batch.objects.exists()


# Key rotation


def write_keyring(path, keys: dict[str, bytes], *, current: str) -> None:
    encoded = {key_id: base64.b64encode(key).decode() for key_id, key in keys.items()}
    path.write_text(json.dumps({"current": current, "keys": encoded}))


@pytest.fixture
def keyring_file(tmp_path, vault_settings):
    path = tmp_path / "vault_keys.json"
    write_keyring(path, {"k1": bytes(32)}, current="k1")
    vault_settings.VAULT_KEYS = ""
    vault_settings.VAULT_KEYS_FILE = str(path)
    return path


def key_ids() -> dict[str, int]:
    ids: dict[str, int] = {}
    for key_id in Code.objects.values_list("key_id", flat=True):
        ids[key_id] = ids.get(key_id, 0) + 1
    return ids


def test_rotation_interrupted_half_way_resumes_and_the_old_key_can_then_go(
    keyring_file, monkeypatch
):
    first, second = ProductFactory(), ProductFactory()
    plaintexts = {f"ROT-{number:04d}" for number in range(50)}
    codes_stock(first, 30, codes=sorted(plaintexts)[:30])
    codes_stock(second, 20, codes=sorted(plaintexts)[30:], status="quarantined")
    assert key_ids() == {"k1": 50}
    reseal, resealed = vault.reseal, []

    def reseal_then_crash(*args, **kwargs):
        if len(resealed) == 25:
            raise RuntimeError("the machine lost power")
        resealed.append(1)
        return reseal(*args, **kwargs)

    monkeypatch.setattr(vault, "reseal", reseal_then_crash)

    # The crash comes in the third batch of 10: two batches are committed.
    with pytest.raises(RuntimeError):
        run("rotate_vault_keys", "--add-key", "--batch-size", "10")

    assert json.loads(keyring_file.read_text())["current"] == "k2"
    assert key_ids() == {"k1": 30, "k2": 20}
    monkeypatch.setattr(vault, "reseal", reseal)

    out, _err = run("rotate_vault_keys", "--batch-size", "10", "--max-batches", "1")

    assert out.splitlines() == [
        "Resealed 10 codes under key k2.",
        "20 codes remain on older keys. Run the command again to continue.",
    ]
    assert key_ids() == {"k1": 20, "k2": 30}

    out, _err = run("rotate_vault_keys", "--batch-size", "10")

    assert out.splitlines() == [
        "Resealed 20 codes under key k2.",
        "Every code is on key k2. Older keys can be removed from the key ring once every "
        "process has restarted with it.",
    ]
    assert key_ids() == {"k2": 50}
    ring = json.loads(keyring_file.read_text())
    del ring["keys"]["k1"]
    keyring_file.write_text(json.dumps(ring))
    vault.keyring_reset_cache()
    assert {code_plaintext(code) for code in Code.objects.all()} == plaintexts


def test_rotation_with_nothing_to_do_says_so(keyring_file):
    codes_stock(ProductFactory(), 3)

    out, _err = run("rotate_vault_keys")

    assert out.splitlines()[0] == "Resealed 0 codes under key k1."
    assert key_ids() == {"k1": 3}


def test_rotation_reseals_in_primary_key_order(keyring_file):
    codes_stock(ProductFactory(), 5)
    vault.keyring_add_key(keyring_file)

    count, last_pk = batches.codes_reseal_next(batch_size=2)

    assert count == 2
    assert last_pk == sorted(Code.objects.values_list("pk", flat=True))[1]
    assert list(Code.objects.order_by("pk").values_list("key_id", flat=True)) == [
        "k2",
        "k2",
        "k1",
        "k1",
        "k1",
    ]


def test_adding_a_key_needs_a_key_ring_file(vault_settings):
    with pytest.raises(CommandError, match="--add-key writes VAULT_KEYS_FILE"):
        run("rotate_vault_keys", "--add-key")
