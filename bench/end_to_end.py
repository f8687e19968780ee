"""End to end: signed Stripe webhooks in, codes delivered, at a fixed arrival rate.

Orders are created beforehand through ``order_create`` (holding their stock) with
a Payment row carrying a made-up PaymentIntent id, as tests/shop/test_webhooks.py
does, so no Stripe server is needed. Then gunicorn (several sync workers) and a
Celery worker (several processes, on Redis) are started on 127.0.0.1, and a
``payment_intent.succeeded`` event per order, signed exactly as Stripe signs it,
is posted on a fixed schedule (open loop: each is sent at its time whatever the
answers to earlier ones). Each stage prints the orders delivered per second and
p50/p95/p99 of the time from the event's scheduled sending (and from its
receipt, ``StripeEvent.received_at``) to ``Order.delivered_at``. A last stage
sends a burst as fast as it can to find the sustained delivery rate, compared
with the raw-SQL allocation rate measured in the same run (bench.allocation's
transaction, 4 processes). At the end it checks that every order was delivered
and no code was issued twice.

    .venv/bin/python -m bench.end_to_end --size full
"""

import asyncio
import json
import secrets
import shutil
import time
from dataclasses import dataclass
from typing import Any

from bench import harness, seed
from bench.harness import Run, say

SIZES: dict[str, dict[str, Any]] = {
    "tiny": {
        "rates": (10,),
        "seconds": 2.0,
        "burst": 20,
        "web": 2,
        "tasks": 2,
        "products": 2,
        "raw_seconds": 1.0,
    },
    "full": {
        "rates": (25, 50, 100),
        "seconds": 10.0,
        "burst": 500,
        "web": 3,
        "tasks": 4,
        "products": 4,
        "raw_seconds": 5.0,
    },
}
BURST_RATE = 1_000  # orders per second offered in the burst: more than can be delivered
TARGET_P99_MS = 1000
TARGET_THROUGHPUT = 0.5
# Seconds to wait for a stage's orders to be delivered: a floor, plus half a second an
# order (so a run still ends, with an error, when delivery is slower than 2 a second).
DELIVERY_TIMEOUT = 60.0


@dataclass(frozen=True)
class Sent:
    order_id: int
    scheduled: float  # epoch seconds
    status: int
    answered_ms: float


def _intent(order_id: int, amount: int, currency: str) -> dict[str, Any]:
    return {
        "id": f"pi_bench_{order_id}",
        "object": "payment_intent",
        "amount": amount,
        "amount_received": amount,
        "currency": currency.lower(),
        "status": "succeeded",
        "metadata": {"order_id": str(order_id)},
        "latest_charge": f"ch_bench_{order_id}",
    }


def orders_create(products: list, count: int) -> list[tuple[int, bytes]]:
    """``count`` orders through order_create, each with a Payment; (order id, event JSON)."""
    from django.conf import settings

    from shop.models import Payment
    from shop.services.orders import order_create
    from tests.support.stripe_events import stripe_event

    run_tag = secrets.token_hex(3)
    made = []
    payments = []
    for n in range(count):
        order, _token = order_create(
            email=f"buyer-{n}-{run_tag}@example.com",
            product=products[n % len(products)],
            quantity=1,
            terms_version=settings.KEYSHOP_TERMS_VERSION,
            language="en",
        )
        payments.append(
            Payment(
                order=order,
                stripe_payment_intent_id=f"pi_bench_{order.pk}",
                client_secret=f"pi_bench_{order.pk}_secret",
                amount_minor=order.total_minor,
                currency=order.currency,
            )
        )
        event = stripe_event(
            "payment_intent.succeeded",
            _intent(order.pk, order.total_minor, order.currency),
            event_id=f"evt_bench_{order.pk}",
        )
        made.append((order.pk, json.dumps(event).encode()))
    Payment.objects.bulk_create(payments, batch_size=1000)
    return made


async def _send(url: str, events: list[tuple[int, bytes]], rate: float, secret: str) -> list[Sent]:
    import aiohttp

    from tests.support.stripe_events import sign_payload

    async def post(session, order_id: int, payload: bytes, scheduled: float) -> Sent:
        began = time.perf_counter()
        headers = {
            "Content-Type": "application/json",
            "Stripe-Signature": sign_payload(payload, secret=secret),
        }
        try:
            async with session.post(url, data=payload, headers=headers) as response:
                await response.read()
                status = response.status
        except aiohttp.ClientError:
            status = 0
        return Sent(order_id, scheduled, status, (time.perf_counter() - began) * 1000)

    timeout = aiohttp.ClientTimeout(total=120)
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        start = time.time() + 0.2
        tasks = []
        for n, (order_id, payload) in enumerate(events):
            scheduled = start + n / rate
            if (delay := scheduled - time.time()) > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(post(session, order_id, payload, scheduled)))
        return await asyncio.gather(*tasks)


def _wait_delivered(order_ids: list[int], services: harness.Services) -> None:
    from shop.models import Order

    def all_delivered() -> bool:
        return Order.objects.filter(pk__in=order_ids, status="delivered").count() == len(order_ids)

    harness.wait_until(
        all_delivered,
        timeout=DELIVERY_TIMEOUT + len(order_ids) / 2,
        what="every order delivered",
        services=services,
    )


def stage(
    run: Run, label: str, url: str, events, rate: float, services, secret: str
) -> dict[str, Any]:
    from shop.models import Order, StripeEvent

    # Not asyncio.run: its SIGINT handling would leave Ctrl-C to the event loop.
    loop = asyncio.new_event_loop()
    try:
        sent = loop.run_until_complete(_send(url, events, rate, secret))
    finally:
        loop.close()
    refused = [s for s in sent if s.status != 200]
    if refused:
        raise RuntimeError(f"{len(refused)} webhooks not answered 200, e.g. {refused[0]}")
    order_ids = [s.order_id for s in sent]
    _wait_delivered(order_ids, services)
    delivered = dict(Order.objects.filter(pk__in=order_ids).values_list("pk", "delivered_at"))
    received = {
        int(event_id.removeprefix("evt_bench_")): at
        for event_id, at in StripeEvent.objects.filter(
            event_id__in=[f"evt_bench_{pk}" for pk in order_ids]
        ).values_list("event_id", "received_at")
    }
    from_sent = [(delivered[s.order_id].timestamp() - s.scheduled) * 1000 for s in sent]
    from_received = [(delivered[pk] - received[pk]).total_seconds() * 1000 for pk in order_ids]
    first = min(s.scheduled for s in sent)
    last = max(at.timestamp() for at in delivered.values())
    figures = {
        "offered_per_s": rate,
        "orders": len(sent),
        "delivered_per_s": len(sent) / (last - first),
        "p50_ms": harness.percentile(from_sent, 50),
        "p95_ms": harness.percentile(from_sent, 95),
        "p99_ms": harness.percentile(from_sent, 99),
        "received_p50_ms": harness.percentile(from_received, 50),
        "received_p99_ms": harness.percentile(from_received, 99),
        "webhook_p99_ms": harness.percentile([s.answered_ms for s in sent], 99),
    }
    say(
        f"{label:<12} {figures['orders']:>5} orders  delivered {figures['delivered_per_s']:6.1f}/s"
        f"   sent->delivered p50 {figures['p50_ms']:6.0f} ms  p95 {figures['p95_ms']:6.0f} ms"
        f"  p99 {figures['p99_ms']:6.0f} ms   (received->delivered p99 "
        f"{figures['received_p99_ms']:.0f} ms; webhook answered p99 "
        f"{figures['webhook_p99_ms']:.0f} ms)"
    )
    return figures


def codes_issued_once() -> tuple[int, int]:
    """(order lines whose code count is not their quantity, products whose counter is off).

    A code names at most one order line (a column of the code), so a code issued
    twice would show as a line short of codes elsewhere or a counter that drifted.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM shop_orderline l JOIN shop_order o ON o.id = l.order_id"
            " WHERE o.status = 'delivered' AND l.quantity <>"
            " (SELECT count(*) FROM fulfillment_code c WHERE c.order_line_id = l.id)"
        )
        (wrong_lines,) = cursor.fetchone()
        cursor.execute(
            "SELECT count(*) FROM fulfillment_stocklevel s WHERE s.codes_available <>"
            " (SELECT count(*) FROM fulfillment_code c"
            "  WHERE c.product_id = s.product_id AND c.status = 'available')"
        )
        (wrong_counters,) = cursor.fetchone()
    return wrong_lines, wrong_counters


def raw_rate(run: Run, conn, category_id: int, supplier_id: int, seconds: float) -> float:
    """The raw-SQL allocation rate on this machine now (bench.allocation, 4 processes)."""
    from bench.allocation import allocate

    product_id = seed.product_create(conn, category_id=category_id, name="Raw baseline")
    count = int(seconds * 1_200) + 500  # more than 4 processes deliver here in that time
    seed.codes_available_add(conn, product_id=product_id, supplier_id=supplier_id, count=count)
    order_ids = seed.orders_paid_create(conn, product_id=product_id, count=count)
    conn.execute("ANALYZE fulfillment_code")
    return allocate(run, kind="raw", order_ids=order_ids, workers=4, seconds=seconds).rate


def options(parser) -> None:
    parser.add_argument(
        "--close-connections",
        action="store_true",
        help="measure the worker closing its database connection around every task, "
        "as before CELERY_DB_REUSE_MAX was set (CELERY_DB_REUSE_MAX=0)",
    )


def body(run: Run) -> None:
    from django.conf import settings
    from django.db import connections

    from shop.models import Order, Product

    size = SIZES[run.size]
    shutil.rmtree(run.var_dir / "mail", ignore_errors=True)
    warm = size["web"] * 10  # requests that load each gunicorn worker's code before timing
    total = warm + sum(int(rate * size["seconds"]) for rate in size["rates"]) + size["burst"]
    with seed.connect(run) as conn:
        if run.options.get("close_connections"):
            run.env["CELERY_DB_REUSE_MAX"] = "0"
            say("# --close-connections: CELERY_DB_REUSE_MAX = 0 in the worker")
        category_id, supplier_id = seed.catalogue_basics(conn)
        baseline = raw_rate(run, conn, category_id, supplier_id, size["raw_seconds"])
        say(f"raw SQL allocation (4 processes, same run): {baseline:.0f} alloc/s")
        product_ids = []
        for n in range(size["products"]):
            product_id = seed.product_create(conn, category_id=category_id, name=f"E2E {n}")
            seed.codes_available_add(
                conn, product_id=product_id, supplier_id=supplier_id, count=total
            )
            product_ids.append(product_id)
        conn.execute("ANALYZE")
    products = list(Product.objects.filter(pk__in=product_ids).order_by("pk"))
    with harness.stopwatch() as took:
        events = orders_create(products, total)
    say(f"created {total} orders with payments through order_create in {took():.1f} s")
    connections.close_all()

    profiler = harness.Profiler(run)
    stages = {}
    with harness.Services(run) as services:
        base = harness.gunicorn_start(services, workers=size["web"])
        harness.celery_start(services, concurrency=size["tasks"])
        say(
            f"gunicorn: {size['web']} sync workers; celery: {size['tasks']} processes "
            f"(prefork, Redis db 5); 2 cores shared with PostgreSQL and this sender"
        )
        url = f"{base}/stripe/webhook/"
        # Warm-up, not counted: every web worker and task process imports its code paths.
        stage(run, "warm-up", url, events[:warm], 20, services, settings.STRIPE_WEBHOOK_SECRET)
        offset = warm
        for rate in size["rates"]:
            count = int(rate * size["seconds"])
            if rate == size["rates"][0]:
                for _name, process in services.processes:
                    profiler.attach(process.pid, f"{_name}-{rate}")
            stages[f"{rate}/s"] = stage(
                run,
                f"{rate}/s",
                url,
                events[offset : offset + count],
                rate,
                services,
                settings.STRIPE_WEBHOOK_SECRET,
            )
            profiler.detach()
            offset += count
        burst = stage(
            run,
            "burst",
            url,
            events[offset : offset + size["burst"]],
            BURST_RATE,
            services,
            settings.STRIPE_WEBHOOK_SECRET,
        )
        stages["burst"] = burst

    wrong_lines, wrong_counters = codes_issued_once()
    delivered = Order.objects.filter(status="delivered", payment__isnull=False).count()
    say(
        f"check: {delivered}/{total} orders delivered; {wrong_lines} order lines with other than "
        f"their quantity of codes; {wrong_counters} stock counters off (no code issued twice: "
        f"{harness.verdict(not wrong_lines and not wrong_counters)})"
    )
    if wrong_lines or wrong_counters or delivered != total:
        raise SystemExit("end-to-end check FAILED")
    top = stages[f"{size['rates'][-1]}/s"]
    ratio = burst["delivered_per_s"] / baseline
    say(
        f"p99 at {size['rates'][-1]}/s: {top['p99_ms']:.0f} ms "
        f"(target < {TARGET_P99_MS} ms at 100/s: {harness.verdict(top['p99_ms'] < TARGET_P99_MS)})"
    )
    say(
        f"sustained: {burst['delivered_per_s']:.1f} orders/s vs raw SQL allocation "
        f"{baseline:.0f}/s: ratio {ratio:.3f}x "
        f"(target >= {TARGET_THROUGHPUT}x: {harness.verdict(ratio >= TARGET_THROUGHPUT)})"
    )
    run.results["end_to_end"] = {"raw_sql_rate": baseline, "stages": stages, "ratio": ratio}


if __name__ == "__main__":
    harness.main(body, harness.arguments(__doc__.splitlines()[0], extra=options), "end_to_end")
