"""Load the demo data and a staff account. Safe to run again: it updates in place."""

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from demo.catalogue import CATEGORIES, PRODUCTS
from fulfillment.models import StockLevel
from shop.models import Category, Product

DEMO_STAFF_USERNAME = "staff"


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
            product, _ = Product.objects.update_or_create(
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
            StockLevel.objects.get_or_create(product=product, defaults={"codes_available": 25})
        password = self._staff_password()
        self.stdout.write(self.style.SUCCESS(f"Demo data loaded: {len(PRODUCTS)} products."))
        self.stdout.write(
            f"Staff login: {settings.SITE_URL}/staff/  "
            f"user '{DEMO_STAFF_USERNAME}'  password '{password}'"
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
