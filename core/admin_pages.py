"""Admin pages shared by every app: a staff form that calls a service
(templates/admin/service_form.html), and an action that asks why before it acts
(templates/admin/action_note_form.html)."""

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.errors import KeyshopError


class NoteForm(forms.Form):
    """The why of a refusal, rejection or revocation, asked on an intermediate page."""

    note = forms.CharField(label=_("note"), widget=forms.Textarea(attrs={"rows": 4}))


def service_form_page(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    form: forms.Form,
    *,
    title: str,
    submit_label: str,
    intro: str = "",
) -> TemplateResponse:
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": title,
        "form": form,
        "intro": intro,
        "submit_label": submit_label,
        "media": model_admin.media + form.media,
    }
    return TemplateResponse(request, "admin/service_form.html", context)


def action_with_note(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet,
    *,
    action: str,
    title: str,
    question: str,
    submit_label: str,
    apply: Callable[[Any, str], None],
) -> TemplateResponse | None:
    """An action that needs a written note: ask for it, then apply it to each selected row."""
    form = NoteForm(request.POST if "apply" in request.POST else None)
    if form.is_bound and form.is_valid():
        for obj in queryset.order_by("pk"):
            try:
                apply(obj, form.cleaned_data["note"])
            except KeyshopError as error:
                model_admin.message_user(request, f"{obj}: {error.message}", messages.ERROR)
            else:
                model_admin.message_user(request, f"{obj}: {gettext('done')}", messages.SUCCESS)
        return None
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": title,
        "question": question,
        "submit_label": submit_label,
        "queryset": queryset,
        "form": form,
        "action": action,
        "action_checkbox_name": ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, "admin/action_note_form.html", context)
