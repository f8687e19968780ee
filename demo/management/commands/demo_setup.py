"""Load the demo data and a staff account. Safe to run again: it updates in place."""

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from core.roles import roles_apply
from demo.catalogue import CATEGORIES, PRODUCTS
from demo.stock import DEMO_CODES_PER_PRODUCT, demo_stock_load
from fulfillment.models import Supplier
from shop.models import Category, Product

DEMO_STAFF_USERNAME = "staff"
DEMO_TOTP_DEVICE = "authenticator app"
DEMO_BACKUP_DEVICE = "backup codes"


class Command(BaseCommand):
    help = "Load demo categories, products and stock, and make a staff login for the admin."

    @transaction.atomic
    def handle(self, *args, **options):
        categories = {}
        for position, (slug, name, description) in enumerate(CATEGORIES):
            categories[slug], _ = Category.objects.update_or_create(
                slug=slug, defaults={"name": name, "description": description, "position": position}
            )
        for (
            category,
            slug,
            name,
            platform,
            region,
            price,
            currency,
            featured,
            description,
        ) in PRODUCTS:
            Product.objects.update_or_create(
                slug=slug,
                defaults={
                    "category": categories[category],
                    "name": name,
                    "platform": platform,
                    "region": region,
                    "price_minor": price,
                    "currency": currency,
                    "is_featured": featured,
                    "description": description,
                },
            )
        password = self._staff_password()
        supplier = compliance_demo_load()
        staff = get_user_model().objects.get(username=DEMO_STAFF_USERNAME)
        stocked = demo_stock_load(supplier=supplier, approver=staff)
        authenticator_url, backup_code = self._staff_second_factor()
        roles_apply()
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data loaded: {len(PRODUCTS)} products, "
                f"{stocked} new batches of {DEMO_CODES_PER_PRODUCT} codes."
            )
        )
        self.stdout.write(
            f"Staff login: {settings.SITE_URL}/staff/  "
            f"user '{DEMO_STAFF_USERNAME}'  password '{password}'"
        )
        self.stdout.write(
            "Second factor: after the password, choose a device and enter its code.\n"
            f"  '{DEMO_TOTP_DEVICE}': add this to an authenticator app: {authenticator_url}\n"
            f"  '{DEMO_BACKUP_DEVICE}': backup code '{backup_code}' (works once; "
            "each run of demo_setup makes a new one)"
        )

    def _staff_password(self) -> str:
        """One generated password, kept in var/ so a second run prints the same login."""
        path = settings.VAR_DIR / "secrets" / "demo_staff_password"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(12))
            path.chmod(0o600)
        password = path.read_text().strip()
        user, _ = get_user_model().objects.get_or_create(username=DEMO_STAFF_USERNAME)
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        return password

    def _staff_second_factor(self) -> tuple[str, str]:
        """A confirmed TOTP device (kept, so an authenticator set up once keeps working)
        and a fresh single-use backup code; returns the device's otpauth:// URL and the code.
        """
        user = get_user_model().objects.get(username=DEMO_STAFF_USERNAME)
        totp, _ = TOTPDevice.objects.get_or_create(
            user=user, name=DEMO_TOTP_DEVICE, defaults={"confirmed": True}
        )
        backup, _ = StaticDevice.objects.get_or_create(
            user=user, name=DEMO_BACKUP_DEVICE, defaults={"confirmed": True}
        )
        backup.token_set.all().delete()
        code = backup.token_set.create(token=StaticToken.random_token()).token
        return totp.config_url, code


def compliance_demo_load() -> Supplier:
    """Compliance demo data: an approved supplier with its documents, one quarantined
    batch (imported by a clerk, so the demo staff login can approve it: four eyes)
    with its provenance recorded, and a blocklist entry. Safe to run again."""
    import io
    from datetime import timedelta

    from django.core.files.base import ContentFile
    from django.utils import timezone

    from compliance.models import BlocklistEntry, DocumentKind, SupplierDocument, VettingStatus
    from compliance.services.provenance import batch_provenance_record
    from compliance.services.screening import blocklist_entry_add
    from compliance.services.suppliers import (
        supplier_document_add,
        supplier_vetting_open,
        supplier_vetting_transition,
    )
    from core.money import Money
    from fulfillment.models import Batch, BatchStatus
    from fulfillment.services.imports import batch_create, batch_import

    today = timezone.localdate()
    supplier, _ = Supplier.objects.get_or_create(name="Northwind Keys (demo)")
    vetting = supplier_vetting_open(supplier=supplier, notes="Demo supplier.")
    if not SupplierDocument.objects.filter(supplier=supplier).exists():
        for kind, reference, valid_until in [
            (DocumentKind.REGISTRATION, "HRB 104 233 (demo)", None),
            (DocumentKind.PUBLISHER_AUTHORISATION, "PUB-AUTH-7781", today + timedelta(days=365)),
        ]:
            document = ContentFile(f"Demo {kind} {reference}\n".encode(), name=f"{kind}.txt")
            supplier_document_add(
                supplier=supplier,
                kind=kind,
                reference=reference,
                file=document,
                valid_until=valid_until,
                actor=None,
            )
    for to_status in (VettingStatus.UNDER_REVIEW, VettingStatus.APPROVED):
        vetting.refresh_from_db()
        if vetting.status in (VettingStatus.APPLIED, VettingStatus.UNDER_REVIEW):
            supplier_vetting_transition(vetting_id=vetting.pk, to_status=to_status)
    if not Batch.objects.filter(supplier=supplier, status=BatchStatus.QUARANTINED).exists():
        clerk, _ = get_user_model().objects.get_or_create(
            username="demo-clerk", defaults={"is_active": False}
        )
        product = Product.objects.order_by("pk").first()
        batch = batch_create(
            supplier=supplier, product=product, file_name="northwind-demo.txt", actor=clerk
        )
        codes = "".join(f"NW-{secrets.token_hex(6).upper()}\n" for _ in range(10))
        batch_import(batch_id=batch.pk, path_or_file=io.BytesIO(codes.encode()), file_format="txt")
        batch_provenance_record(
            batch_id=batch.pk,
            invoice_reference="NW-2026-0042",
            acquired_on=today - timedelta(days=3),
            unit_cost=Money(1250, "EUR"),
            publisher_authorisation_reference="PUB-AUTH-7781",
            actor=clerk,
        )
    if not BlocklistEntry.objects.filter(value="*@blocked.example").exists():
        blocklist_entry_add(
            kind="email_wildcard",
            value="*@blocked.example",
            reason="Demo: chargebacks from this domain.",
            expires_at=timezone.now() + timedelta(days=365),
            actor=None,
        )
    return supplier
