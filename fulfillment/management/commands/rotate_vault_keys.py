"""Move every stored code to the vault's current key, resumably.

    python manage.py rotate_vault_keys [--add-key] [--batch-size N] [--max-batches N]

With ``--add-key`` a new key is added to the key ring file (VAULT_KEYS_FILE) and
made current first. Codes on other keys are then resealed in primary-key order,
``--batch-size`` at a time, each batch committed on its own: an interrupted run
loses at most its open batch, and the next run continues with what is left. The
command reports how many codes remain on old keys; at zero, and once every
process has restarted with the new ring, old keys can be removed from it.
"""

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from fulfillment import vault
from fulfillment.services.batches import codes_reseal_next, codes_to_reseal_count


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number


class Command(BaseCommand):
    help = "Re-encrypt stored codes under the current vault key (optionally adding a new key)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--add-key",
            action="store_true",
            help="add a new key to VAULT_KEYS_FILE, make it current",
        )
        parser.add_argument("--batch-size", type=_positive, default=500, help="codes per commit")
        parser.add_argument(
            "--max-batches", type=_positive, help="stop after this many batches (default: all)"
        )

    def handle(
        self,
        *args: Any,
        add_key: bool,
        batch_size: int,
        max_batches: int | None,
        **options: Any,
    ) -> None:
        if add_key:
            self._add_key()
        current = vault.current_key_id()
        to_reseal = codes_to_reseal_count()
        resealed, batches, after_pk = 0, 0, 0
        while max_batches is None or batches < max_batches:
            count, last_pk = codes_reseal_next(after_pk=after_pk, batch_size=batch_size)
            if last_pk is None:
                break
            resealed, batches, after_pk = resealed + count, batches + 1, last_pk
            self.stderr.write(
                "\r" + _("%(done)d of %(total)d resealed") % {"done": resealed, "total": to_reseal},
                ending="",
            )
            self.stderr.flush()
        self.stderr.write("")
        remaining = codes_to_reseal_count()
        self.stdout.write(
            _("Resealed %(count)d codes under key %(key)s.") % {"count": resealed, "key": current}
        )
        if remaining:
            self.stdout.write(
                _("%(count)d codes remain on older keys. Run the command again to continue.")
                % {"count": remaining}
            )
        else:
            self.stdout.write(
                _(
                    "Every code is on key %(key)s. Older keys can be removed from the key ring "
                    "once every process has restarted with it."
                )
                % {"key": current}
            )

    def _add_key(self) -> None:
        if settings.VAULT_KEYS or not settings.VAULT_KEYS_FILE:
            raise CommandError(
                _(
                    "--add-key writes VAULT_KEYS_FILE, but the key ring comes from VAULT_KEYS. "
                    "Add the new key to VAULT_KEYS, make it current, restart, then run this "
                    "command without --add-key."
                )
            )
        key_id = vault.keyring_add_key(settings.VAULT_KEYS_FILE)
        self.stdout.write(
            _(
                "Added key %(key)s to the key ring; it is now current. Restart the web and "
                "worker processes so they seal new codes with it."
            )
            % {"key": key_id}
        )
