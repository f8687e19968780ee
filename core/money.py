"""Money as integer minor units plus an ISO 4217 currency; never a float.

This is the one place that knows how many minor units a currency has and how
an amount is written for people.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.utils.formats import number_format

# Minor-unit exponents for the currencies Keyshop sells in (ISO 4217).
CURRENCY_EXPONENTS: dict[str, int] = {"EUR": 2, "USD": 2, "GBP": 2, "CNY": 2, "JPY": 0}
CURRENCY_SYMBOLS: dict[str, str] = {"EUR": "€", "USD": "$", "GBP": "£", "CNY": "¥", "JPY": "¥"}


class CurrencyMismatch(ValueError):
    """Two amounts in different currencies were combined."""


@dataclass(frozen=True, slots=True)
class Money:
    amount_minor: int
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount_minor, int) or isinstance(self.amount_minor, bool):
            raise TypeError("Money.amount_minor must be an int (minor units), never a float")
        if self.currency not in CURRENCY_EXPONENTS:
            raise ValueError(f"unsupported currency {self.currency!r}")

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(f"{self.currency} and {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount_minor + other.amount_minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount_minor - other.amount_minor, self.currency)

    def __mul__(self, quantity: int) -> Money:
        if not isinstance(quantity, int):
            raise TypeError("Money can only be multiplied by a whole quantity")
        return Money(self.amount_minor * quantity, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same_currency(other)
        return self.amount_minor < other.amount_minor

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    @classmethod
    def from_major(cls, amount: Decimal | str, currency: str) -> Money:
        """Parse an amount written in major units ("19.99") exactly; refuse sub-minor digits."""
        exponent = CURRENCY_EXPONENTS[currency]
        minor = Decimal(amount).scaleb(exponent)
        if minor != minor.to_integral_value():
            raise ValueError(f"{amount} has more than {exponent} decimal places for {currency}")
        return cls(int(minor), currency)

    def to_major(self) -> Decimal:
        return Decimal(self.amount_minor).scaleb(-CURRENCY_EXPONENTS[self.currency])

    def format(self) -> str:
        """The amount for people, in the active locale's number format."""
        exponent = CURRENCY_EXPONENTS[self.currency]
        sign = "-" if self.amount_minor < 0 else ""
        units, minor = divmod(abs(self.amount_minor), 10**exponent)
        if exponent:
            digits = number_format(
                f"{units}.{minor:0{exponent}d}",
                decimal_pos=exponent,
                use_l10n=True,
                force_grouping=True,
            )
        else:
            digits = number_format(units, force_grouping=True)
        return f"{sign}{CURRENCY_SYMBOLS.get(self.currency, '')}{digits} {self.currency}"

    def __str__(self) -> str:
        return self.format()
