"""Re-apply the staff role table (core.roles) to the role groups."""

from django.core.management.base import BaseCommand
from django.db import transaction

from core.roles import roles_apply


class Command(BaseCommand):
    help = (
        "Give each staff role group exactly the permissions core/roles.py lists that exist. "
        "Run it after migrate, so permissions of apps added since are granted too."
    )

    @transaction.atomic
    def handle(self, *args, **options):
        for result in roles_apply():
            self.stdout.write(f"{result.role}: {result.granted} permissions")
            if result.missing:
                self.stdout.write(
                    self.style.WARNING("  not defined yet: " + ", ".join(result.missing))
                )
