"""Allocation: paid orders get their codes through ``order_deliver``, beside raw SQL.

N worker processes (1, 4, 16) deliver paid orders that hold stock, one unit
each, through the real service (``fulfillment.services.delivery.order_deliver``:
its locks, transitions, events, counters and the email queued on commit). Beside
it the same transaction, written by hand in SQL with psycopg and prepared
statements, makes the same changes on the same tables: it locks the order,
takes a code from the head of the available-codes index with ``FOR UPDATE SKIP
LOCKED``, marks it sold, moves both stock counters, marks the order delivered and
writes its two events. On the fresh table the same transaction is also run
through the Django ORM (``orm_deliver``), to tell the ORM's cost from the
service's. Each (implementation, N) gets its own product, so one run's sold codes
do not sit in the next one's way.

Then the service and raw SQL again on a product with one million codes already
sold (sold the way delivery sells them: an UPDATE that leaves a dead entry per
code at the head of the partial index ``code_available_queue``), before and after
a VACUUM. With ``--proposed``, two variants of the raw transaction that start the
pick at a queue head kept on the stock row are measured beside them.

    .venv/bin/python -m bench.allocation --size full
"""

import contextlib
import multiprocessing
import queue
import signal
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any

import psycopg

from bench import harness, seed
from bench.harness import Run, say

SIZES: dict[str, dict[str, Any]] = {
    "tiny": {"workers": (2,), "seconds": 1.0, "sold": 2_000, "orders": (400, 800)},
    # orders: (for the service, for raw SQL and the other variants) per run; a run that
    # uses them up ends early (and says so). Sized for this machine, where one product's
    # deliveries are bound by the WAL flush (~3 ms) under the stock row's lock.
    "full": {"workers": (1, 4, 16), "seconds": 10.0, "sold": 1_000_000, "orders": (4_000, 8_000)},
}
TARGET_RATIO = 0.6
TARGET_AGED_COST = 1.2

# The delivery transaction by hand: the same rows changed as order_deliver changes.
LOCK_ORDER = "SELECT status FROM shop_order WHERE id = %s FOR UPDATE"
LINES = (
    "SELECT id, product_id, quantity FROM shop_orderline WHERE order_id = %s ORDER BY product_id"
)
PICK = (
    "SELECT id FROM fulfillment_code WHERE product_id = %s AND status = 'available'"
    " ORDER BY batch_id, id LIMIT %s FOR UPDATE SKIP LOCKED"
)
TAKE = (
    "UPDATE fulfillment_code SET status = 'delivered', order_line_id = %s, delivered_at = now(),"
    " status_changed_at = now() WHERE id = ANY(%s)"
)
STOCK = (
    "UPDATE fulfillment_stocklevel SET codes_available = codes_available - %s,"
    " units_held = units_held - %s WHERE product_id = %s"
)
ORDER_DONE = (
    "UPDATE shop_order SET status = 'delivered', delivered_at = now(), updated_at = now(),"
    " holds_reservation = false WHERE id = %s"
)
EVENTS = (
    "INSERT INTO shop_orderevent (created_at, from_status, to_status, kind, note, actor_id,"
    " order_id) VALUES (now(), %s, 'delivering', 'status_changed', '', NULL, %s),"
    " (now(), 'delivering', 'delivered', 'delivered', '', NULL, %s)"
)
DELIVERABLE = {"paid", "delivering", "awaiting_stock"}

# The queue head (docs/performance.md; fulfillment migration 0003), measured in raw
# SQL: the product's StockLevel row remembers where the queue's head was left (the
# last code taken), and the next pick starts there instead of walking the entries
# of every code sold since the last VACUUM.
STOCK_FIRST = (
    "UPDATE fulfillment_stocklevel SET codes_available = codes_available - %s,"
    " units_held = units_held - %s WHERE product_id = %s RETURNING queue_batch_id, queue_code_id"
)
PICK_AFTER = (
    "SELECT id, batch_id FROM fulfillment_code WHERE product_id = %s AND status = 'available'"
    " AND (batch_id, id) > (%s, %s) ORDER BY batch_id, id LIMIT %s FOR UPDATE SKIP LOCKED"
)
PICK_FROM_START = (
    "SELECT id, batch_id FROM fulfillment_code WHERE product_id = %s AND status = 'available'"
    " ORDER BY batch_id, id LIMIT %s FOR UPDATE SKIP LOCKED"
)
HEAD_MOVE = (
    "UPDATE fulfillment_stocklevel SET queue_batch_id = %s, queue_code_id = %s"
    " WHERE product_id = %s"
)


class Shortage(Exception):
    pass


def raw_deliver(conn: psycopg.Connection, order_id: int) -> str:
    with conn.transaction():
        (status,) = conn.execute(LOCK_ORDER, (order_id,), prepare=True).fetchone()
        if status not in DELIVERABLE:
            return status
        for line_id, product_id, quantity in conn.execute(LINES, (order_id,), prepare=True):
            ids = [row[0] for row in conn.execute(PICK, (product_id, quantity), prepare=True)]
            if len(ids) < quantity:
                raise Shortage(order_id)
            conn.execute(TAKE, (line_id, ids), prepare=True)
            conn.execute(STOCK, (quantity, quantity, product_id), prepare=True)
        conn.execute(ORDER_DONE, (order_id,), prepare=True)
        conn.execute(EVENTS, (status, order_id, order_id), prepare=True)
    return "delivered"


def raw_deliver_from_head(conn: psycopg.Connection, order_id: int) -> str:
    with conn.transaction():
        (status,) = conn.execute(LOCK_ORDER, (order_id,), prepare=True).fetchone()
        if status not in DELIVERABLE:
            return status
        for line_id, product_id, quantity in conn.execute(LINES, (order_id,), prepare=True):
            head_batch, head_code = conn.execute(
                STOCK_FIRST, (quantity, quantity, product_id), prepare=True
            ).fetchone()
            rows = conn.execute(
                PICK_AFTER, (product_id, head_batch or 0, head_code or 0, quantity), prepare=True
            ).fetchall()
            if len(rows) < quantity:  # codes behind the head (a batch released again)
                rows = conn.execute(
                    PICK_FROM_START, (product_id, quantity), prepare=True
                ).fetchall()
            if len(rows) < quantity:
                raise Shortage(order_id)
            conn.execute(TAKE, (line_id, [row[0] for row in rows]), prepare=True)
            last_id, last_batch = rows[-1]
            conn.execute(HEAD_MOVE, (last_batch, last_id, product_id), prepare=True)
        conn.execute(ORDER_DONE, (order_id,), prepare=True)
        conn.execute(EVENTS, (status, order_id, order_id), prepare=True)
    return "delivered"


def orm_deliver(order_id: int) -> str:
    """The raw SQL transaction again, in the Django ORM: what the ORM itself costs.

    The same rows changed with the same number of statements as ``raw_deliver``;
    none of the service's other work (screening, audit, low-stock check, email).
    """
    from django.db import transaction
    from django.db.models import F
    from django.utils import timezone

    from fulfillment.models import Code, StockLevel
    from shop.models import Order, OrderEvent, OrderLine

    with transaction.atomic():
        status = Order.objects.select_for_update().values_list("status", flat=True).get(pk=order_id)
        if status not in DELIVERABLE:
            return status
        now = timezone.now()
        lines = OrderLine.objects.filter(order_id=order_id).order_by("product_id")
        for line_id, product_id, quantity in lines.values_list("id", "product_id", "quantity"):
            ids = list(
                Code.objects.select_for_update(skip_locked=True)
                .filter(product_id=product_id, status="available")
                .order_by("batch_id", "id")
                .values_list("id", flat=True)[:quantity]
            )
            if len(ids) < quantity:
                raise Shortage(order_id)
            Code.objects.filter(pk__in=ids).update(
                status="delivered", order_line_id=line_id, delivered_at=now, status_changed_at=now
            )
            StockLevel.objects.filter(product_id=product_id).update(
                codes_available=F("codes_available") - quantity,
                units_held=F("units_held") - quantity,
            )
        Order.objects.filter(pk=order_id).update(
            status="delivered", delivered_at=now, updated_at=now, holds_reservation=False
        )
        OrderEvent.objects.bulk_create(
            [
                OrderEvent(
                    order_id=order_id,
                    from_status=status,
                    to_status="delivering",
                    kind="status_changed",
                ),
                OrderEvent(
                    order_id=order_id,
                    from_status="delivering",
                    to_status="delivered",
                    kind="delivered",
                ),
            ]
        )
    return "delivered"


# The same head, without changing the order of locks: read the head with no lock,
# pick from it, and move it forward with the counter update as today (never back).
HEAD_READ = "SELECT queue_batch_id, queue_code_id FROM fulfillment_stocklevel WHERE product_id = %s"
STOCK_AND_HEAD = (
    "UPDATE fulfillment_stocklevel SET codes_available = codes_available - %(q)s,"
    " units_held = units_held - %(q)s,"
    " queue_batch_id = CASE WHEN queue_batch_id IS NULL"
    "  OR (queue_batch_id, queue_code_id) < (%(b)s, %(c)s) THEN %(b)s ELSE queue_batch_id END,"
    " queue_code_id = CASE WHEN queue_batch_id IS NULL"
    "  OR (queue_batch_id, queue_code_id) < (%(b)s, %(c)s) THEN %(c)s ELSE queue_code_id END"
    " WHERE product_id = %(p)s"
)


def raw_deliver_from_hint(conn: psycopg.Connection, order_id: int) -> str:
    with conn.transaction():
        (status,) = conn.execute(LOCK_ORDER, (order_id,), prepare=True).fetchone()
        if status not in DELIVERABLE:
            return status
        for line_id, product_id, quantity in conn.execute(LINES, (order_id,), prepare=True):
            head_batch, head_code = conn.execute(HEAD_READ, (product_id,), prepare=True).fetchone()
            rows = conn.execute(
                PICK_AFTER, (product_id, head_batch or 0, head_code or 0, quantity), prepare=True
            ).fetchall()
            if len(rows) < quantity:  # codes behind the head (skipped, or released again)
                rows = conn.execute(
                    PICK_FROM_START, (product_id, quantity), prepare=True
                ).fetchall()
            if len(rows) < quantity:
                raise Shortage(order_id)
            conn.execute(TAKE, (line_id, [row[0] for row in rows]), prepare=True)
            last_id, last_batch = rows[-1]
            conn.execute(
                STOCK_AND_HEAD,
                {"q": quantity, "b": last_batch, "c": last_id, "p": product_id},
                prepare=True,
            )
        conn.execute(ORDER_DONE, (order_id,), prepare=True)
        conn.execute(EVENTS, (status, order_id, order_id), prepare=True)
    return "delivered"


# --- worker processes ------------------------------------------------------------


def _take(counter) -> int:
    with counter.get_lock():
        index = counter.value
        counter.value += 1
    return index


def _worker(kind, database_url, order_ids, counter, barrier, seconds, results) -> None:
    # The parent turns SIGTERM into KeyboardInterrupt for its clean-up; a worker just ends.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops the workers itself
    try:
        if kind == "keyshop":
            from fulfillment.services.delivery import order_deliver

            def deliver(order_id: int) -> str:
                return order_deliver(order_id=order_id).status

        elif kind == "orm":
            deliver = orm_deliver
        else:
            conn = psycopg.connect(database_url)
            transaction = {
                "raw": raw_deliver,
                "raw+head": raw_deliver_from_head,
                "raw+hint": raw_deliver_from_hint,
            }[kind]

            def deliver(order_id: int) -> str:
                return transaction(conn, order_id)

        # One delivery before the clock starts: connections, imports, prepared plans.
        deliver(order_ids[_take(counter)])
        barrier.wait(timeout=120)
        began = time.monotonic()
        deadline = began + seconds
        done = 0
        while time.monotonic() < deadline:
            index = _take(counter)
            if index >= len(order_ids):
                break
            status = deliver(order_ids[index])
            if status != "delivered":
                raise RuntimeError(f"order {order_ids[index]} ended {status}")
            done += 1
        results.put(("ok", done, began, time.monotonic()))
    except BaseException:  # reported to the parent, which fails the run
        results.put(("error", traceback.format_exc(), 0.0, 0.0))
        with_barrier_broken(barrier)


def with_barrier_broken(barrier) -> None:
    with contextlib.suppress(Exception):  # nothing more to do in a failing worker
        barrier.abort()


@dataclass(frozen=True)
class Measured:
    allocations: int
    seconds: float
    ran_out: bool

    @property
    def rate(self) -> float:
        return self.allocations / self.seconds if self.seconds else 0.0


def allocate(
    run: Run, *, kind: str, order_ids: list[int], workers: int, seconds: float, profiler=None
) -> Measured:
    """Deliver ``order_ids`` with ``workers`` processes for ``seconds``; what they managed."""
    from django.db import connections

    connections.close_all()  # each forked worker opens its own
    context = multiprocessing.get_context("fork")
    counter = context.Value("q", 0)
    barrier = context.Barrier(workers + 1)
    results = context.Queue()
    processes = [
        context.Process(
            target=_worker,
            args=(kind, run.database_url, order_ids, counter, barrier, seconds, results),
            daemon=True,
        )
        for _ in range(workers)
    ]
    try:
        for process in processes:
            process.start()
        if profiler:
            for process in processes:
                profiler.attach(process.pid, f"{kind}-{workers}w-{process.pid}")
        try:
            barrier.wait(timeout=120)
        except threading.BrokenBarrierError:
            with contextlib.suppress(queue.Empty):
                _status, detail, _b, _e = results.get(timeout=10)
                raise RuntimeError(f"a {kind} worker failed:\n{detail}") from None
            raise
        outcomes = [results.get(timeout=seconds + 120) for _ in processes]
        if profiler:
            profiler.detach()
    except BaseException:
        for process in processes:
            process.terminate()
        raise
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    errors = [detail for status, detail, _b, _e in outcomes if status == "error"]
    if errors:
        raise RuntimeError(f"a {kind} worker failed:\n{errors[0]}")
    done = sum(n for _s, n, _b, _e in outcomes)
    began = min(b for _s, _n, b, _e in outcomes)
    ended = max(e for _s, _n, _b, e in outcomes)
    return Measured(done, ended - began, counter.value >= len(order_ids))


# --- phases ----------------------------------------------------------------------


def _explain_pick(run: Run, product_id: int) -> tuple[float, int]:
    """Time and buffers of one head-of-queue read, as the allocation query does it."""
    with psycopg.connect(run.database_url) as conn:
        plan = conn.execute(
            "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + PICK, (product_id, 1)
        ).fetchone()[0][0]
        conn.rollback()
    buffers = plan["Plan"].get("Shared Hit Blocks", 0) + plan["Plan"].get("Shared Read Blocks", 0)
    return plan["Execution Time"], buffers


def _line(label: str, workers: int, keyshop: Measured, raw: Measured) -> str:
    ratio = keyshop.rate / raw.rate if raw.rate else 0.0
    note = " (ran out of orders)" if keyshop.ran_out or raw.ran_out else ""
    return (
        f"{label:<18} workers={workers:<3} keyshop {keyshop.rate:8.0f} alloc/s   "
        f"raw SQL {raw.rate:8.0f} alloc/s   ratio {ratio:4.2f}x "
        f"(target >= {TARGET_RATIO}x: {harness.verdict(ratio >= TARGET_RATIO)}){note}"
    )


def phase_fresh(run: Run, conn, category_id: int, supplier_id: int, size: dict) -> dict:
    say("## fresh table: each run on a product of its own, nothing sold before it")
    figures = {}
    kinds = [("keyshop", size["orders"][0]), ("orm", size["orders"][1]), ("raw", size["orders"][1])]
    for workers in size["workers"]:
        measured = {}
        for kind, orders in kinds:
            product_id = seed.product_create(
                conn, category_id=category_id, name=f"Fresh {kind} {workers}"
            )
            # More codes than orders: a product with stock to spare (no low-stock alerts).
            seed.codes_available_add(
                conn, product_id=product_id, supplier_id=supplier_id, count=orders * 2
            )
            order_ids = seed.orders_paid_create(conn, product_id=product_id, count=orders)
            conn.execute("ANALYZE fulfillment_code")
            measured[kind] = allocate(
                run, kind=kind, order_ids=order_ids, workers=workers, seconds=size["seconds"]
            )
        say(_line("fresh", workers, measured["keyshop"], measured["raw"]))
        orm = measured["orm"].rate
        say(
            f"{'':<18} the raw SQL transaction in the Django ORM: {orm:6.0f} alloc/s "
            f"({orm / measured['raw'].rate:4.2f}x raw SQL; Keyshop is "
            f"{measured['keyshop'].rate / orm:4.2f}x of it)"
        )
        figures[workers] = measured
    return figures


def phase_aged(
    run: Run, conn, product_id: int, label: str, size: dict, fresh: dict, profiler=None
) -> dict:
    figures = {}
    kinds = [("keyshop", size["orders"][0]), ("raw", size["orders"][1])]
    if size["proposed"]:
        kinds += [("raw+head", size["orders"][1]), ("raw+hint", size["orders"][1])]
    for workers in size["workers"]:
        measured = {}
        for kind, orders in kinds:
            order_ids = seed.orders_paid_create(conn, product_id=product_id, count=orders)
            measured[kind] = allocate(
                run,
                kind=kind,
                order_ids=order_ids,
                workers=workers,
                seconds=size["seconds"],
                profiler=profiler if workers == size["workers"][0] else None,
            )
        say(_line(label, workers, measured["keyshop"], measured["raw"]))
        for kind, _orders in kinds:
            before = fresh[workers][kind.partition("+")[0]].rate
            cost = before / measured[kind].rate if measured[kind].rate else float("inf")
            say(
                f"{'':<18} {kind:<8} {measured[kind].rate:8.0f} alloc/s, cost per allocation "
                f"vs fresh: {cost:4.2f}x "
                f"(target <= {TARGET_AGED_COST}x: {harness.verdict(cost <= TARGET_AGED_COST)})"
            )
        figures[workers] = measured
    return figures


def options(parser) -> None:
    parser.add_argument("--sold", type=int, help="codes sold before the second phase")
    parser.add_argument("--seconds", type=float, help="seconds per measured run")
    parser.add_argument(
        "--workers", type=lambda text: tuple(int(n) for n in text.split(",")), help="e.g. 1,4,16"
    )
    parser.add_argument(
        "--proposed",
        action="store_true",
        help="measure the raw SQL transaction with the queue head too",
    )


def body(run: Run) -> None:
    size = {**SIZES[run.size], **{k: v for k, v in run.options.items() if v is not None}}
    profiler = harness.Profiler(run)
    with seed.connect(run) as conn:
        category_id, supplier_id = seed.catalogue_basics(conn)
        fresh = phase_fresh(run, conn, category_id, supplier_id, size)

        say(f"## after {size['sold']:,} codes sold")
        product_id = seed.product_create(conn, category_id=category_id, name="Aged")
        with harness.stopwatch() as took:
            steps = seed.codes_sold_add(
                conn, product_id=product_id, supplier_id=supplier_id, count=size["sold"]
            )
        detail = ", ".join(f"{step} {seconds:.1f} s" for step, seconds in steps.items())
        say(f"seeded {size['sold']:,} sold codes, one per order, in {took():.1f} s ({detail})")
        # Every run seeds its orders (each holding a unit) but delivers only what it can in
        # its time: twice the codes of all those orders keeps the product far from low stock.
        per_state = size["orders"][0] + size["orders"][1] * (3 if size["proposed"] else 1)
        codes = 2 * 2 * len(size["workers"]) * per_state
        seed.codes_available_add(conn, product_id=product_id, supplier_id=supplier_id, count=codes)
        conn.execute("ANALYZE fulfillment_code")
        first_ms, _ = _explain_pick(run, product_id)
        head_ms, head_pages = _explain_pick(run, product_id)
        say(
            f"head of the available-codes index: first read {first_ms:.1f} ms, then "
            f"{head_ms:.2f} ms and {head_pages} pages per read"
        )
        aged = phase_aged(run, conn, product_id, "sold, no vacuum", size, fresh, profiler)

        with harness.stopwatch() as took:
            conn.execute("VACUUM (ANALYZE) fulfillment_code")
        head_ms, head_pages = _explain_pick(run, product_id)
        say(f"## after VACUUM ({took():.1f} s): head read {head_ms:.2f} ms, {head_pages} pages")
        vacuumed = phase_aged(run, conn, product_id, "sold, vacuumed", size, fresh)
    run.results["allocation"] = {
        phase: {
            workers: {
                kind: {"rate": m.rate, "allocations": m.allocations} for kind, m in by.items()
            }
            for workers, by in figures.items()
        }
        for phase, figures in (("fresh", fresh), ("aged", aged), ("vacuumed", vacuumed))
    }


if __name__ == "__main__":
    harness.main(body, harness.arguments(__doc__.splitlines()[0], extra=options), "allocation")
