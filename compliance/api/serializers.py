"""Shapes of the complaint endpoints of the reseller API."""

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from compliance.models import (
    Complaint,
    ComplaintEvidence,
    ComplaintMessage,
    ComplaintReason,
    ComplaintStatus,
)
from compliance.services.complaints import DESCRIPTION_MAX


class ComplaintCreateSerializer(serializers.Serializer):
    code_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        min_length=1,
        max_length=200,
        help_text=_("The delivered codes of the order the complaint is about (their code_id)."),
    )
    reason = serializers.ChoiceField(choices=ComplaintReason.choices)
    description = serializers.CharField(max_length=DESCRIPTION_MAX)
    evidence = serializers.ListField(
        child=serializers.FileField(),
        required=False,
        max_length=settings.KEYSHOP_COMPLAINT_EVIDENCE_MAX_FILES,
        help_text=_(
            "Screenshots or PDFs (multipart/form-data only), checked by their content; "
            "at most %(mb)d MB each."
        )
        % {"mb": settings.KEYSHOP_COMPLAINT_EVIDENCE_MAX_BYTES // (1024 * 1024)},
    )


class ComplaintFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=ComplaintStatus.choices, required=False)
    order = serializers.CharField(
        required=False, max_length=32, help_text=_("An order number: its complaints only.")
    )


class ComplaintMessageCreateSerializer(serializers.Serializer):
    body = serializers.CharField(max_length=DESCRIPTION_MAX)


class ComplaintSerializer(serializers.ModelSerializer):
    order = serializers.CharField(source="order.number")
    code_ids = serializers.SerializerMethodField()

    class Meta:
        model = Complaint
        fields = ["id", "order", "code_ids", "reason", "status", "resolution", "created_at"]
        read_only_fields = fields

    def get_code_ids(self, complaint: Complaint) -> list[int]:
        return sorted(code.pk for code in complaint.codes.all())


class ComplaintEvidenceSerializer(serializers.ModelSerializer):
    class Meta:
        model = ComplaintEvidence
        fields = ["original_name", "content_type", "size", "sha256", "uploaded_at"]
        read_only_fields = fields


class ComplaintMessageSerializer(serializers.ModelSerializer):
    author = serializers.SerializerMethodField(help_text=_("you or staff"))

    class Meta:
        model = ComplaintMessage
        fields = ["author", "body", "created_at"]
        read_only_fields = fields

    def get_author(self, message: ComplaintMessage) -> str:
        return "staff" if message.staff_user_id else "you"


class ComplaintDetailSerializer(ComplaintSerializer):
    evidence = ComplaintEvidenceSerializer(many=True, read_only=True)
    messages = ComplaintMessageSerializer(many=True, read_only=True)

    class Meta(ComplaintSerializer.Meta):
        fields = [
            *ComplaintSerializer.Meta.fields,
            "description",
            "resolution_note",
            "updated_at",
            "evidence",
            "messages",
        ]
        read_only_fields = fields
