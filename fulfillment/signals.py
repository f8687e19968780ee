"""Signals the fulfillment app sends. Receivers connect in their AppConfig.ready().

Both are sent after the transaction that made the change has committed, so a
receiver sees it. A receiver should only queue work or write its own rows: it
runs in the request, task or command that made the change.

``batch_imported(sender=Batch, batch_id=int)``
    A batch's file was imported and the batch is now quarantined, waiting for
    its release checks (``KEYSHOP_BATCH_RELEASE_CHECKS``). Sent once per batch;
    not sent for a batch whose import failed.

``stock_arrived(sender=Batch, product_id=int)``
    Codes of a product became available: a batch became sellable, or sellable
    again after a suspension. Sent once per such move, only when at least one
    code became available. Orders waiting for stock are delivered by its
    receiver; the sender does not know about them.
"""

from django.dispatch import Signal

batch_imported = Signal()
stock_arrived = Signal()
