from decimal import Decimal

import pytest
from django.utils import translation

from core.money import CurrencyMismatch, Money


def test_money_adds_and_multiplies_in_minor_units():
    assert Money(1999, "EUR") * 3 + Money(3, "EUR") == Money(6000, "EUR")


def test_money_refuses_floats_and_mixed_currencies():
    with pytest.raises(TypeError):
        Money(19.99, "EUR")  # type: ignore[arg-type]
    with pytest.raises(CurrencyMismatch):
        Money(1, "EUR") + Money(1, "USD")


def test_money_parses_major_units_exactly():
    assert Money.from_major("19.99", "EUR") == Money(1999, "EUR")
    assert Money.from_major(Decimal("500"), "JPY") == Money(500, "JPY")
    assert Money(1999, "EUR").to_major() == Decimal("19.99")
    with pytest.raises(ValueError):
        Money.from_major("1.005", "EUR")


@translation.override("en")
def test_money_formats_for_people():
    assert Money(123456, "EUR").format() == "€1,234.56 EUR"
    assert Money(-5, "USD").format() == "-$0.05 USD"
    assert Money(500, "JPY").format() == "¥500 JPY"
