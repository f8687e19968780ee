from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class TimeStampedModel(models.Model):
    """Base model: creation and last-change times on every row."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class StaffAlert(TimeStampedModel):
    """Something staff must look at: a stuck delivery, low stock.

    At most one open alert per (kind, subject): raising it again only refreshes it.
    """

    kind = models.CharField(_("kind"), max_length=40)
    subject = models.CharField(_("about"), max_length=100)
    message = models.TextField(_("message"))
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("staff alert")
        verbose_name_plural = _("staff alerts")
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "subject"],
                condition=models.Q(resolved_at__isnull=True),
                name="staff_alert_one_open_per_subject",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind}: {self.subject}"


class AuditEntry(models.Model):
    """One audited event: who did what to which object, when and why. Append-only.

    Writers only insert (``core.audit.audit_record``), leaving ``seq`` empty, so
    they take no lock. The sealer (``core.audit.audit_seal``) later gives each
    unsealed entry, in id order, the next ``seq`` and chains it: ``prev_hash`` is
    the previous entry's ``hash``, and ``hash`` an HMAC-SHA256 over the entry's
    fields and ``prev_hash``. Altering a sealed entry breaks its hash; deleting one
    leaves a gap in ``seq``. Never holds an email address or a code.
    """

    created_at = models.DateTimeField(_("at"), default=timezone.now, editable=False)
    action = models.CharField(_("action"), max_length=64)
    obj_type = models.CharField(_("object type"), max_length=64)
    obj_id = models.CharField(_("object id"), max_length=64)
    # PROTECT: a staff account with audited actions is deactivated, never deleted,
    # since clearing the reference would alter sealed entries.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
    )
    reason = models.TextField(_("reason"), blank=True)
    data = models.JSONField(_("details"), default=dict, blank=True)
    # Empty until sealed.
    seq = models.BigIntegerField(_("sequence"), null=True, blank=True, editable=False)
    prev_hash = models.CharField(max_length=64, blank=True, editable=False)
    hash = models.CharField(max_length=64, blank=True, editable=False)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit log")
        constraints = [models.UniqueConstraint(fields=["seq"], name="audit_entry_seq_unique")]
        indexes = [
            # The sealer reads the head of this index: unsealed entries in id order.
            models.Index(
                fields=["id"], condition=models.Q(seq__isnull=True), name="audit_entry_unsealed"
            ),
            models.Index(fields=["obj_type", "obj_id"], name="audit_entry_object"),
        ]

    def __str__(self) -> str:
        return f"{self.seq or '-'} {self.action} {self.obj_type}:{self.obj_id}"


class AuditChainHead(models.Model):
    """The sealer's lock and its record of the last sealed entry (one row, pk 1).

    The sealer locks this row, so two sealers never hand out the same ``seq``; the
    last sealed ``seq`` and ``hash`` kept here let the verifier notice entries
    deleted from the end of the chain, which leave no gap behind them.
    """

    last_seq = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, blank=True)
    sealed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("audit chain head")

    def __str__(self) -> str:
        return f"sealed up to {self.last_seq}"
