"""Staff forms of the compliance admin. They validate; services decide."""

from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from compliance.models import BatchProvenance, BlocklistKind, DocumentKind
from core.money import Money
from fulfillment.code_import import CodeFileFormat
from fulfillment.models import Supplier
from shop.models import Product


class SupplierVettingOpenForm(forms.Form):
    supplier = forms.ModelChoiceField(
        label=_("supplier"), queryset=Supplier.objects.filter(vetting__isnull=True)
    )
    notes = forms.CharField(label=_("notes"), widget=forms.Textarea, required=False)


class SupplierDocumentForm(forms.Form):
    supplier = forms.ModelChoiceField(label=_("supplier"), queryset=Supplier.objects.all())
    kind = forms.ChoiceField(label=_("kind"), choices=DocumentKind.choices)
    reference = forms.CharField(label=_("reference"), max_length=200)
    valid_until = forms.DateField(
        label=_("valid until"),
        required=False,
        help_text=_("Required for an authorisation or certificate."),
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    file = forms.FileField(
        label=_("file"), help_text=_("Kept privately; only permitted staff can download it.")
    )


class BatchProvenanceForm(forms.ModelForm):
    """Staff type the unit cost as they read it (1.25); it is stored in minor units."""

    unit_cost = forms.DecimalField(
        label=_("unit cost"),
        min_value=Decimal("0"),
        max_digits=12,
        decimal_places=4,
        required=False,
    )

    class Meta:
        model = BatchProvenance
        fields = [
            "invoice_reference",
            "acquired_on",
            "unit_cost",
            "unit_cost_currency",
            "publisher_authorisation_reference",
        ]
        widgets = {"acquired_on": forms.DateInput(attrs={"type": "date"})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.unit_cost is not None:
            self.initial["unit_cost"] = self.instance.unit_cost.to_major()

    def clean(self):
        cleaned = super().clean()
        amount, currency = cleaned.get("unit_cost"), cleaned.get("unit_cost_currency")
        cleaned["unit_cost_money"] = None
        if amount is not None:
            if not currency:
                self.add_error("unit_cost_currency", _("Give the currency of the unit cost."))
            else:
                try:
                    cleaned["unit_cost_money"] = Money.from_major(amount, currency)
                except ValueError:
                    self.add_error("unit_cost", _("This currency has no such small unit."))
        return cleaned


class RevocationListForm(forms.Form):
    product = forms.ModelChoiceField(label=_("product"), queryset=Product.objects.order_by("name"))
    publisher = forms.CharField(label=_("publisher"), max_length=200)
    reference = forms.CharField(label=_("list reference"), max_length=200, required=False)
    file_format = forms.ChoiceField(
        label=_("file format"), choices=CodeFileFormat.choices, initial=CodeFileFormat.TXT
    )
    file = forms.FileField(
        label=_("file"),
        help_text=_("UTF-8 text. Only a keyed hash of each code is kept, never the code."),
    )


class BlocklistEntryAddForm(forms.Form):
    kind = forms.ChoiceField(label=_("kind"), choices=BlocklistKind.choices)
    value = forms.CharField(
        label=_("value"),
        max_length=254,
        help_text=_(
            "An email address; a pattern such as *@example.com; an IP address (kept only "
            "hashed); or a two-letter country code."
        ),
    )
    reason = forms.CharField(label=_("reason"), widget=forms.Textarea(attrs={"rows": 3}))
    expires_at = forms.DateTimeField(
        label=_("expires at"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )


class RefundRequestForm(forms.Form):
    """Staff ask for a refund of a delivered order: all of it, or some of its codes."""

    order_number = forms.CharField(label=_("order number"), max_length=20)
    code_ids = forms.CharField(
        label=_("codes"),
        required=False,
        help_text=_("Code numbers (#) separated by commas; leave empty to refund the whole order."),
    )
    reason = forms.CharField(label=_("reason"), widget=forms.Textarea(attrs={"rows": 4}))

    def clean_code_ids(self) -> list[int]:
        raw = [part.strip().lstrip("#") for part in self.cleaned_data["code_ids"].split(",")]
        if not all(part.isdigit() for part in raw if part):
            raise forms.ValidationError(_("Give code numbers separated by commas."))
        return sorted({int(part) for part in raw if part})


class ComplaintFileForm(forms.Form):
    """The buyer's complaint: which codes, why, what happened. Files come from the request."""

    codes = forms.TypedMultipleChoiceField(
        label=_("Which codes?"),
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("Choose the codes the complaint is about.")},
    )
    reason = forms.ChoiceField(label=_("What is wrong?"))
    description = forms.CharField(
        label=_("Tell us what happened"),
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 5}),
        error_messages={"required": _("Describe what is wrong.")},
    )

    def __init__(self, *args, code_choices: list[tuple[int, str]], reasons, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["codes"].choices = code_choices
        self.fields["reason"].choices = reasons

    def clean_description(self) -> str:
        description = self.cleaned_data["description"].strip()
        if not description:
            raise forms.ValidationError(_("Describe what is wrong."))
        return description


class ComplaintMessageForm(forms.Form):
    body = forms.CharField(
        label=_("Your message"),
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 4}),
        error_messages={"required": _("Write a message.")},
    )
