"""Signals the shop sends upward. Higher apps connect to them in AppConfig.ready().

``order_paid(sender=Order, order_id=int)``
    Sent after the transaction that marked an order paid has committed. The
    receiver decides what happens next (screening, then delivery); the shop only
    guarantees the signal is sent once per order reaching ``paid``.

``order_status_changed(sender=Order, order_id=int, from_status=str, to_status=str)``
    Sent after the transaction of every status move made by
    ``shop.services.orders.order_transition`` has committed, once per move (a repeat
    of the move the order already made sends nothing; a move rolled back sends
    nothing). Receivers are called robustly: one that raises is logged and does not
    disturb the caller, so a receiver that must not lose work queues a task. The shop
    itself listens for reseller webhooks and reseller refunds.

``order_created(sender=Order, order_id=int, ip_hash=str)``
    Sent by the storefront's checkout view after the new order has committed, with
    the keyed hash of the buyer's IP address (``core.privacy.pii_hash``); the shop
    keeps no IP address, not even hashed. Compliance stores the hash for fraud
    screening and erases it after its retention period (docs/privacy.md). Sent
    robustly: a receiver that raises is logged and does not fail the checkout.
"""

from django.dispatch import Signal

order_paid = Signal()
order_status_changed = Signal()
order_created = Signal()
