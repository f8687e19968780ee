from django.db import models


class TimeStampedModel(models.Model):
    """Base model: creation and last-change times on every row."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
