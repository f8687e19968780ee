from compliance.models.batches import BatchCheck, BatchProvenance, CheckKind, CheckOutcome
from compliance.models.revocations import (
    RevocationCase,
    RevocationCaseEvent,
    RevocationCaseStatus,
    RevocationList,
    RevokedCode,
)
from compliance.models.screening import (
    BlocklistEntry,
    BlocklistKind,
    Decision,
    OrderContext,
    OrderReview,
    OrderReviewEvent,
    ReviewStatus,
    RuleKind,
    ScreeningDecision,
    ScreeningRule,
)
from compliance.models.suppliers import (
    DocumentKind,
    SupplierDocument,
    SupplierVetting,
    SupplierVettingEvent,
    VettingStatus,
)

__all__ = [
    "BatchCheck",
    "BatchProvenance",
    "BlocklistEntry",
    "BlocklistKind",
    "CheckKind",
    "CheckOutcome",
    "Decision",
    "DocumentKind",
    "OrderContext",
    "OrderReview",
    "OrderReviewEvent",
    "ReviewStatus",
    "RevocationCase",
    "RevocationCaseEvent",
    "RevocationCaseStatus",
    "RevocationList",
    "RevokedCode",
    "RuleKind",
    "ScreeningDecision",
    "ScreeningRule",
    "SupplierDocument",
    "SupplierVetting",
    "SupplierVettingEvent",
    "VettingStatus",
]
