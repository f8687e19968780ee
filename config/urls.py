from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _

admin.site.site_header = _("Keyshop staff")
admin.site.site_title = _("Keyshop staff")

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("staff/", admin.site.urls),
    path("", include("shop.urls")),
]
