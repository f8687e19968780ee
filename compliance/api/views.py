"""Complaints through the reseller API: the buyers' workflow, reached with an API key.

The shop's API machinery (key authentication, scopes, throttling, the error
shape) is reused as it is; only the complaint services and reads are this app's.
A complaint on another reseller's order is a 404, like one that does not exist.
"""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from compliance import selectors
from compliance.api import serializers as s
from compliance.services.complaints import complaint_file, complaint_message_add
from shop.api.views import (
    ResellerApi,
    ResellerCursorPagination,
    path_int,
    path_param,
    validated,
)
from shop.models import ApiScope
from shop.selectors_resellers import reseller_order_get

COMPLAINTS = ApiScope.COMPLAINTS


class ComplaintApi(ResellerApi):
    """Answers with the complaint as the detail endpoint shows it."""

    def _detail(self, complaint_id: int) -> dict:
        complaint = selectors.reseller_complaint_get(
            reseller_id=self.reseller.pk, complaint_id=complaint_id
        )
        return s.ComplaintDetailSerializer(complaint).data


class OrderComplaintCreateApi(ComplaintApi):
    required_scopes = {"POST": COMPLAINTS}
    error_statuses = {"POST": (409,)}
    parser_classes = [MultiPartParser, JSONParser]

    @extend_schema(
        operation_id="complaints_create",
        parameters=[path_param("number", OpenApiTypes.STR)],
        request={
            "multipart/form-data": s.ComplaintCreateSerializer,
            "application/json": s.ComplaintCreateSerializer,
        },
        responses={201: OpenApiResponse(s.ComplaintDetailSerializer, description=str(_("Filed.")))},
        tags=["complaints"],
    )
    def post(self, request: Request, number: str) -> Response:
        """File a complaint on delivered codes of your order, with evidence files.

        Staff answer on the thread, then replace the codes (the new ones appear on
        the order), refund them to your balance, or reject the complaint with a
        reason. A code already under an open complaint is a 409.
        """
        order = reseller_order_get(reseller=self.reseller, number=number)
        data = validated(s.ComplaintCreateSerializer, request.data)
        complaint = complaint_file(
            order=order,
            code_ids=data["code_ids"],
            reason=data["reason"],
            description=data["description"],
            files=data.get("evidence", []),
        )
        return Response(self._detail(complaint.pk), status=status.HTTP_201_CREATED)


class ComplaintListApi(ResellerApi):
    required_scopes = {"GET": COMPLAINTS}
    pagination_class = ResellerCursorPagination

    @extend_schema(
        operation_id="complaints_list",
        parameters=[s.ComplaintFilterSerializer],
        responses=s.ComplaintSerializer(many=True),
        tags=["complaints"],
    )
    def get(self, request: Request) -> Response:
        """Your complaints, newest first."""
        filters = validated(s.ComplaintFilterSerializer, request.query_params)
        complaints = selectors.reseller_complaints(
            reseller_id=self.reseller.pk,
            status=filters.get("status", ""),
            order_number=filters.get("order", ""),
        )
        return self._page(complaints, s.ComplaintSerializer)


class ComplaintDetailApi(ComplaintApi):
    required_scopes = {"GET": COMPLAINTS}

    @extend_schema(
        operation_id="complaints_retrieve",
        parameters=[path_param("complaint_id")],
        responses=s.ComplaintDetailSerializer,
        tags=["complaints"],
    )
    def get(self, request: Request, complaint_id: str) -> Response:
        """A complaint with its outcome, evidence and message thread."""
        return Response(self._detail(path_int(complaint_id)))


class ComplaintMessageCreateApi(ComplaintApi):
    required_scopes = {"POST": COMPLAINTS}
    error_statuses = {"POST": (409,)}

    @extend_schema(
        operation_id="complaints_messages_create",
        parameters=[path_param("complaint_id")],
        request=s.ComplaintMessageCreateSerializer,
        responses={201: OpenApiResponse(s.ComplaintDetailSerializer, description=str(_("Sent.")))},
        tags=["complaints"],
    )
    def post(self, request: Request, complaint_id: str) -> Response:
        """Write on the complaint's thread; it then waits for staff. A closed one is a 409."""
        complaint = selectors.reseller_complaint_get(
            reseller_id=self.reseller.pk, complaint_id=path_int(complaint_id)
        )
        data = validated(s.ComplaintMessageCreateSerializer, request.data)
        complaint_message_add(complaint_id=complaint.pk, body=data["body"])
        return Response(self._detail(complaint.pk), status=status.HTTP_201_CREATED)
