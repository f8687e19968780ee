"""Import a supplier's code file from the command line, in this process.

    python manage.py import_codes --supplier NAME --product SLUG [--format txt|csv]
        [--user USERNAME] FILE

The batch starts quarantined, as from the admin. Progress goes to stderr; the
summary (counts per rejection reason, never a code) to stdout. A refused file
imports nothing, and the command exits with the reason.
"""

from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from fulfillment.code_import import CodeFileFormat
from fulfillment.models import BatchStatus, Supplier
from fulfillment.services.imports import (
    ImportProgress,
    batch_create,
    batch_import,
    batch_rejections_by_reason,
    rejection_message,
)
from shop.models import Product


class Command(BaseCommand):
    help = "Import a supplier's code file into a new, quarantined batch."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="the code file")
        parser.add_argument("--supplier", required=True, help="the supplier's name")
        parser.add_argument("--product", required=True, help="the product's slug")
        parser.add_argument(
            "--format",
            dest="file_format",
            choices=CodeFileFormat.values,
            help="txt (one code per line) or csv; by default csv for .csv files, else txt",
        )
        parser.add_argument("--user", help="the staff username recorded as the importer")

    def handle(
        self,
        *args: Any,
        file: Path,
        supplier: str,
        product: str,
        file_format: str | None,
        user: str | None,
        **options: Any,
    ) -> None:
        if not file.is_file():
            raise CommandError(_("No such file: %(file)s") % {"file": file})
        batch = batch_create(
            supplier=self._supplier(supplier),
            product=self._product(product),
            file_name=file.name,
            actor=self._user(user),
        )
        if file_format is None:
            file_format = (
                CodeFileFormat.CSV if file.suffix.lower() == ".csv" else CodeFileFormat.TXT
            )
        batch = batch_import(
            batch_id=batch.pk,
            path_or_file=file,
            file_format=file_format,
            on_progress=self._progress,
        )
        self.stderr.write("")  # end the progress line
        if batch.status == BatchStatus.FAILED:
            raise CommandError(
                _("Batch #%(batch)d: nothing was imported. %(failure)s")
                % {"batch": batch.pk, "failure": batch.failure}
            )
        self._summary(batch.pk, batch.lines_read, batch.codes_imported, batch.lines_rejected)

    def _supplier(self, name: str) -> Supplier:
        try:
            return Supplier.objects.get(name=name)
        except Supplier.DoesNotExist:
            raise CommandError(
                _("There is no supplier named %(name)s. Add it in the admin first.")
                % {"name": name}
            ) from None

    def _product(self, slug: str) -> Product:
        try:
            return Product.objects.get(slug=slug)
        except Product.DoesNotExist:
            raise CommandError(_("There is no product %(slug)s.") % {"slug": slug}) from None

    def _user(self, username: str | None):
        if username is None:
            return None
        try:
            return get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist:
            raise CommandError(_("There is no user %(user)s.") % {"user": username}) from None

    def _progress(self, progress: ImportProgress) -> None:
        self.stderr.write(
            "\r"
            + _("%(lines)s lines read (%(percent)d%%)")
            % {"lines": f"{progress.lines_read:,}", "percent": progress.percent},
            ending="",
        )
        self.stderr.flush()

    def _summary(self, batch_id: int, lines_read: int, imported: int, rejected: int) -> None:
        self.stdout.write(
            _("Batch #%(batch)d is quarantined until it is released.") % {"batch": batch_id}
        )
        self.stdout.write(_("Lines read: %(count)d") % {"count": lines_read})
        self.stdout.write(_("Codes imported: %(count)d") % {"count": imported})
        self.stdout.write(_("Lines rejected: %(count)d") % {"count": rejected})
        for reason, count in batch_rejections_by_reason(batch_id=batch_id).items():
            self.stdout.write(f"  {reason}: {count} ({rejection_message(reason)})")
