"""Signals the shop sends upward. Higher apps connect to them in AppConfig.ready().

``order_paid(sender=Order, order_id=int)``
    Sent after the transaction that marked an order paid has committed. The
    receiver decides what happens next (screening, then delivery); the shop only
    guarantees the signal is sent once per order reaching ``paid``.
"""

from django.dispatch import Signal

order_paid = Signal()
