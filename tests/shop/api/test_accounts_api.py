import pytest
from django.conf import settings
from django.urls import reverse
from rest_framework.test import APIClient

from core.errors import IllegalTransition, InvalidInput
from shop.models import Reseller, ResellerEvent
from shop.services.resellers import StaffPermissionRequired, reseller_transition
from tests.shop.api.factories import ResellerFactory, staff_user

pytestmark = pytest.mark.django_db

APPLICATIONS = reverse("api:applications")
APPLICATION = {
    "name": "Pixel Keys GmbH",
    "contact_email": "ops@pixelkeys.example",
    "website": "https://pixelkeys.example",
    "country": "de",
    "accept_terms": True,
}


def test_an_application_records_the_terms_and_waits_for_vetting():
    response = APIClient().post(APPLICATIONS, APPLICATION, format="json")

    reseller = Reseller.objects.get()
    assert response.status_code == 201
    assert response.json() == {
        "status": "applied",
        "terms_version": settings.KEYSHOP_RESELLER_TERMS_VERSION,
    }
    assert (reseller.status, reseller.country, reseller.vetted_at) == ("applied", "DE", None)
    assert reseller.terms_version == settings.KEYSHOP_RESELLER_TERMS_VERSION
    assert reseller.terms_accepted_at is not None
    assert ResellerEvent.objects.get().kind == "applied"


def test_an_application_without_the_terms_is_refused():
    response = APIClient().post(APPLICATIONS, {**APPLICATION, "accept_terms": False}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["message"] == "The reseller terms must be accepted to apply."
    assert Reseller.objects.count() == 0


def test_applications_are_limited_per_address(settings):
    settings.KEYSHOP_RESELLER_APPLICATION_RATE = "2/hour"
    client = APIClient()

    codes = [client.post(APPLICATIONS, APPLICATION, format="json").status_code for _ in range(3)]

    assert codes == [201, 201, 429]
    assert Reseller.objects.count() == 2


def test_a_compliance_officer_vets_and_the_vetting_is_recorded():
    applicant = ResellerFactory(status="applied")
    officer = staff_user("vet_reseller")

    reseller, moved = reseller_transition(
        reseller_id=applicant.pk, to_status="active", actor=officer, note="documents checked"
    )

    assert moved is True
    assert (reseller.status, reseller.vetted_by) == ("active", officer)
    assert reseller.vetted_at is not None
    event = ResellerEvent.objects.get(kind="vetted")
    assert (event.from_status, event.to_status, event.actor) == ("applied", "active", officer)


def test_vetting_needs_the_permission_and_changes_nothing_without_it():
    applicant = ResellerFactory(status="applied")

    with pytest.raises(StaffPermissionRequired):
        reseller_transition(reseller_id=applicant.pk, to_status="active", actor=staff_user())

    applicant.refresh_from_db()
    assert (applicant.status, applicant.vetted_at) == ("applied", None)
    assert not ResellerEvent.objects.exists()


def test_suspension_needs_a_reason_and_illegal_moves_are_refused():
    reseller = ResellerFactory()
    officer = staff_user("vet_reseller")

    with pytest.raises(InvalidInput):
        reseller_transition(reseller_id=reseller.pk, to_status="suspended", actor=officer)
    with pytest.raises(IllegalTransition):
        reseller_transition(reseller_id=reseller.pk, to_status="applied", actor=officer)
    _r, repeat = reseller_transition(reseller_id=reseller.pk, to_status="active", actor=officer)

    reseller.refresh_from_db()
    assert reseller.status == "active"
    assert repeat is False
    assert not ResellerEvent.objects.exists()
