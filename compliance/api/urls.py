"""The complaint endpoints, mounted under /api/v1/ beside the shop's (config/urls.py)."""

from django.urls import path

from compliance.api import views

app_name = "complaints_api"

urlpatterns = [
    path(
        "orders/<str:number>/complaints/",
        views.OrderComplaintCreateApi.as_view(),
        name="order_complaints",
    ),
    path("complaints/", views.ComplaintListApi.as_view(), name="complaints"),
    path("complaints/<str:complaint_id>/", views.ComplaintDetailApi.as_view(), name="complaint"),
    path(
        "complaints/<str:complaint_id>/messages/",
        views.ComplaintMessageCreateApi.as_view(),
        name="complaint_messages",
    ),
]
