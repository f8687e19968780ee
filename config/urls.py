from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from django_otp.admin import OTPAdminSite

# Staff sign-in needs a second factor: the admin admits only staff verified by
# one of their confirmed OTP devices (TOTP, or a single-use backup code); anyone
# else gets the login page asking for a token. Swapping the class of the default
# site keeps every ModelAdmin registered on it, and their own views behind it.
admin.site.__class__ = OTPAdminSite
admin.site.site_header = _("Keyshop staff")
admin.site.site_title = _("Keyshop staff")

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("staff/", admin.site.urls),
    path("api/v1/", include("shop.api.urls")),
    path("api/v1/", include("compliance.api.urls")),
    path("", include("compliance.urls")),
    path("", include("shop.urls")),
]
