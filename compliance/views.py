"""The buyer's complaint pages, reached from the order page through its secret link.

Every view authorises with ``shop.selectors.order_get_for_access``: a wrong
number or token is a 404, the same as an order that does not exist. No code is
shown here; the buyer sees codes (replacements too) on the order page.
"""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache

from compliance.forms import ComplaintFileForm, ComplaintMessageForm
from compliance.models import Complaint, ComplaintReason
from compliance.services.complaints import complaint_file, complaint_message_add
from core.errors import KeyshopError
from fulfillment.models import Code, CodeStatus
from shop.selectors import order_get_for_access


def _code_choices(order) -> list[tuple[int, str]]:
    codes = (
        Code.objects.filter(order_line__order=order, status=CodeStatus.DELIVERED)
        .select_related("product")
        .order_by("pk")
    )
    return [(code.pk, f"{code.product.name} (#{code.pk})") for code in codes]


@never_cache
def complaint_list(request: HttpRequest, number: str, token: str) -> HttpResponse:
    """The order's complaints and the form to file one."""
    order = order_get_for_access(number=number, token=token)
    form = ComplaintFileForm(
        request.POST or None, code_choices=_code_choices(order), reasons=ComplaintReason.choices
    )
    if request.method == "POST" and form.is_valid():
        try:
            complaint = complaint_file(
                order=order,
                code_ids=form.cleaned_data["codes"],
                reason=form.cleaned_data["reason"],
                description=form.cleaned_data["description"],
                files=request.FILES.getlist("evidence"),
            )
        except KeyshopError as error:
            form.add_error(None, error.message)
        else:
            return redirect(
                "compliance:complaint_detail", number=number, token=token, complaint_id=complaint.pk
            )
    complaints = Complaint.objects.filter(order=order).order_by("-created_at")
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "compliance/complaints.html",
        {"order": order, "token": token, "form": form, "complaints": complaints},
        status=status,
    )


@never_cache
def complaint_detail(
    request: HttpRequest, number: str, token: str, complaint_id: int
) -> HttpResponse:
    """One complaint: its status, outcome and thread; the buyer can write."""
    order = order_get_for_access(number=number, token=token)
    complaint = get_object_or_404(Complaint, pk=complaint_id, order=order)
    form = ComplaintMessageForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            complaint_message_add(complaint_id=complaint.pk, body=form.cleaned_data["body"])
        except KeyshopError as error:
            form.add_error(None, error.message)
        else:
            return redirect(
                "compliance:complaint_detail", number=number, token=token, complaint_id=complaint.pk
            )
    return render(
        request,
        "compliance/complaint_detail.html",
        {
            "order": order,
            "token": token,
            "complaint": complaint,
            "messages_thread": complaint.messages.all(),
            "form": form,
        },
    )
