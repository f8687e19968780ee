from django.urls import path

from compliance import views

app_name = "compliance"

ORDER = "orders/<str:number>/<str:token>/"

urlpatterns = [
    path(ORDER + "complaints/", views.complaint_list, name="complaints"),
    path(
        ORDER + "complaints/<int:complaint_id>/",
        views.complaint_detail,
        name="complaint_detail",
    ),
]
