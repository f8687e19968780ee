import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from demo.management.commands.demo_setup import DEMO_BACKUP_DEVICE, DEMO_STAFF_USERNAME

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
LOGIN = "/staff/login/"


@pytest.fixture
def boss():
    return get_user_model().objects.create_superuser(username="boss", password=PASSWORD)


def _admin_urls() -> list[str]:
    """Every URL of the admin site, with "1" for each id and each app for the app pages."""
    (staff,) = [p for p in get_resolver().url_patterns if str(p.pattern) == "staff/"]
    urls = []

    def walk(patterns, prefix):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
                continue
            assert isinstance(pattern, URLPattern)
            route = str(pattern.pattern)
            if pattern.name == "app_list":
                labels = re.search(r"\(\?P<app_label>([^)]*)\)", route).group(1).split("|")
                urls.extend(f"{prefix}{label}/" for label in labels)
            elif route == "(?P<url>.*)$":
                urls.append(f"{prefix}no-such-page/")
            else:
                urls.append(prefix + re.sub(r"<[^>]+>", "1", route))

    walk(staff.url_patterns, "/staff/")
    return urls


def _sign_in(client: Client, username: str, device_id: str, token: str):
    return client.post(
        LOGIN,
        {
            "username": username,
            "password": PASSWORD,
            "otp_device": device_id,
            "otp_token": token,
            "next": "/staff/",
        },
    )


def _current_token(device: TOTPDevice) -> str:
    return str(totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)).zfill(
        device.digits
    )


def test_staff_without_a_verified_device_reach_no_admin_page(client, boss):
    urls = _admin_urls()
    assert len(urls) > 80  # every registered model's pages, and the site's own
    client.force_login(boss)  # the password alone

    reached = {}
    for url in urls:
        if url in {LOGIN, "/staff/logout/"}:
            continue
        for response in (client.get(url), client.post(url, {"action": "delete_selected"})):
            redirected_to_login = response.status_code == 302 and response.url.startswith(LOGIN)
            if not (redirected_to_login or response.status_code == 403):
                reached[url] = response.status_code

    assert reached == {}


def test_the_login_page_asks_a_signed_in_staff_member_for_a_token(client, boss):
    client.force_login(boss)

    page = client.get(LOGIN).content.decode()

    assert 'name="otp_token"' in page
    assert "not authorized to access this page" in page


def test_a_device_not_used_to_sign_in_does_not_open_the_admin(client, boss):
    TOTPDevice.objects.create(user=boss, name="phone", confirmed=True)
    client.force_login(boss)

    response = client.get("/staff/")

    assert response.status_code == 302 and response.url.startswith(LOGIN)


def test_a_valid_totp_token_opens_the_admin(client, boss):
    device = TOTPDevice.objects.create(user=boss, name="phone", confirmed=True)

    response = _sign_in(client, "boss", device.persistent_id, _current_token(device))

    assert (response.status_code, response.url) == (302, "/staff/")
    assert client.get("/staff/").status_code == 200
    assert client.get(reverse("admin:core_staffalert_changelist")).status_code == 200


def test_a_wrong_token_or_no_device_keeps_the_admin_closed(client, boss):
    device = TOTPDevice.objects.create(user=boss, name="phone", confirmed=True)
    wrong = str((int(_current_token(device)) + 1) % 10**6).zfill(6)

    refused = _sign_in(client, "boss", device.persistent_id, wrong)
    without_device = _sign_in(client, "boss", "", _current_token(device))

    assert refused.status_code == without_device.status_code == 200
    assert "Invalid token" in refused.content.decode()
    assert "Please select a device" in without_device.content.decode()
    assert client.get("/staff/").status_code == 302


def test_an_unconfirmed_device_cannot_be_used(client, boss):
    device = TOTPDevice.objects.create(user=boss, name="phone", confirmed=False)

    _sign_in(client, "boss", device.persistent_id, _current_token(device))

    # django-otp's form accepts the token, but the middleware disowns the device.
    response = client.get("/staff/")
    assert response.status_code == 302 and response.url.startswith(LOGIN)


def test_the_otp_admin_client_fixture_is_verified(otp_admin_client):
    assert otp_admin_client.get(reverse("admin:core_auditentry_changelist")).status_code == 200


def test_the_demo_staff_login_has_an_authenticator_and_a_single_use_backup_code(client):
    first, second = [], []
    call_command("demo_setup", stdout=_Lines(first))
    call_command("demo_setup", stdout=_Lines(second))
    output = "".join(second)

    password = re.search(r"user 'staff'  password '([^']+)'", output).group(1)
    backup_code = re.search(r"backup code '([a-z2-7]+)'", output).group(1)
    url = re.search(r"(otpauth://totp/\S+)", output).group(1)
    user = get_user_model().objects.get(username=DEMO_STAFF_USERNAME)
    (device,) = TOTPDevice.objects.filter(user=user, confirmed=True)
    backup = StaticDevice.objects.get(user=user, name=DEMO_BACKUP_DEVICE, confirmed=True)
    assert url == device.config_url and url in "".join(first)  # the same secret every run
    assert "issuer=Keyshop" in url
    assert list(backup.token_set.values_list("token", flat=True)) == [backup_code]

    sign_in = {"username": "staff", "password": password, "otp_device": backup.persistent_id}
    response = client.post(LOGIN, {**sign_in, "otp_token": backup_code, "next": "/staff/"})
    assert (response.status_code, response.url) == (302, "/staff/")
    assert client.get("/staff/").status_code == 200

    client.logout()
    again = client.post(LOGIN, {**sign_in, "otp_token": backup_code, "next": "/staff/"})
    assert again.status_code == 200  # used up
    assert client.get("/staff/").status_code == 302


class _Lines:
    def __init__(self, out: list[str]) -> None:
        self.out = out

    def write(self, text: str, *args, **kwargs) -> None:
        self.out.append(text)

    def flush(self) -> None:
        pass
