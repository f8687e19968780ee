from django.db import models
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
