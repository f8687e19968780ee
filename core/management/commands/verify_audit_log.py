"""Check the audit log's hash chain and name the first broken entry."""

from django.core.management.base import BaseCommand, CommandError

from core.audit import audit_verify


class Command(BaseCommand):
    help = (
        "Seal waiting audit entries, then check the whole chain. Prints 'ok' with the "
        "number of entries, or names the first broken seq and exits non-zero."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--no-seal", action="store_true", help="Check only; do not seal waiting entries first."
        )

    def handle(self, *args, **options):
        check = audit_verify(seal=not options["no_seal"])
        if not check.ok:
            raise CommandError(
                f"audit log broken at seq {check.broken_seq}: {check.problem} "
                f"({check.entries} entries before it are intact)"
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"ok: {check.entries} entries, chained up to seq {check.last_seq} "
                f"(hash {check.last_hash or '-'}); {check.unsealed} waiting to be sealed"
            )
        )
