from django import forms
from django.utils.translation import gettext_lazy as _

from shop.models import Product


class CheckoutForm(forms.Form):
    """Quantity, an email address and the terms: all a buyer is asked for."""

    quantity = forms.IntegerField(label=_("Quantity"), initial=1)
    email = forms.EmailField(
        label=_("Email address"),
        help_text=_("We send the link to your order here. Nothing else is needed."),
    )
    accept_terms = forms.BooleanField(
        label=_("I accept the terms of sale"),
        error_messages={"required": _("Please accept the terms of sale to continue.")},
    )

    def __init__(self, *args, product: Product, **kwargs):
        super().__init__(*args, **kwargs)
        self.product = product
        field = self.fields["quantity"]
        field.min_value, field.max_value = product.min_per_order, product.max_per_order
        field.validators = []
        field.widget.attrs.update(min=product.min_per_order, max=product.max_per_order)

    def clean_quantity(self) -> int:
        quantity = self.cleaned_data["quantity"]
        if not self.product.min_per_order <= quantity <= self.product.max_per_order:
            raise forms.ValidationError(
                _("You can buy %(min)d to %(max)d per order."),
                params={"min": self.product.min_per_order, "max": self.product.max_per_order},
            )
        return quantity


class OrderLookupForm(forms.Form):
    email = forms.EmailField(label=_("Email address"))
    number = forms.CharField(label=_("Order number"), max_length=20)
