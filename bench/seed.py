"""Rows for the benchmarks, written straight with SQL (INSERT … SELECT), fast at any size.

Codes written here carry random bytes of the right length as ciphertext: the
benchmarks that use them allocate and count codes but never open one. Codes that
must be real (the import benchmark) go through the real import service instead.
"""

import contextlib
import secrets
import threading
import time
from collections.abc import Iterator

import psycopg

# A sealed code: 12 bytes of nonce + the code (a 24-character code here) + 16 bytes of tag.
CIPHERTEXT_BYTES = 12 + 24 + 16


def connect(run) -> psycopg.Connection:
    return psycopg.connect(run.database_url, autocommit=True)


def catalogue_basics(conn: psycopg.Connection) -> tuple[int, int]:
    """A category and a supplier to hang products and batches on; their ids."""
    tag = secrets.token_hex(4)
    category = conn.execute(
        "INSERT INTO shop_category (created_at, updated_at, name, slug, description, position,"
        " is_active) VALUES (now(), now(), %s, %s, '', 0, true) RETURNING id",
        (f"Bench {tag}", f"bench-{tag}"),
    ).fetchone()[0]
    supplier = conn.execute(
        "INSERT INTO fulfillment_supplier (created_at, updated_at, name)"
        " VALUES (now(), now(), %s) RETURNING id",
        (f"Bench supplier {tag}",),
    ).fetchone()[0]
    return category, supplier


def product_create(conn: psycopg.Connection, *, category_id: int, name: str) -> int:
    slug = f"{name.lower().replace(' ', '-')}-{secrets.token_hex(3)}"
    product_id = conn.execute(
        "INSERT INTO shop_product (created_at, updated_at, name, slug, description, platform,"
        " region, price_minor, currency, min_per_order, max_per_order, is_active, is_featured,"
        " category_id) VALUES (now(), now(), %s, %s, 'A code for a game.', 'steam', 'global',"
        " 1999, 'EUR', 1, 5, true, false, %s) RETURNING id",
        (name, slug, category_id),
    ).fetchone()[0]
    conn.execute(
        "INSERT INTO fulfillment_stocklevel (product_id, codes_available, units_held,"
        " low_stock_threshold) VALUES (%s, 0, 0, 10)",
        (product_id,),
    )
    return product_id


def batch_create(conn: psycopg.Connection, *, product_id: int, supplier_id: int, status: str):
    return conn.execute(
        "INSERT INTO fulfillment_batch (created_at, updated_at, status, file_name, file_sha256,"
        " lines_read, codes_imported, lines_rejected, failure, product_id, supplier_id)"
        " VALUES (now(), now(), %s, 'bench.txt', '', 0, 0, 0, '', %s, %s) RETURNING id",
        (status, product_id, supplier_id),
    ).fetchone()[0]


def codes_available_add(
    conn: psycopg.Connection, *, product_id: int, supplier_id: int, count: int
) -> int:
    """``count`` available codes in a new sellable batch, counted in StockLevel; the batch id."""
    batch_id = batch_create(conn, product_id=product_id, supplier_id=supplier_id, status="sellable")
    _codes_insert(conn, product_id=product_id, batch_id=batch_id, count=count)
    conn.execute(
        "UPDATE fulfillment_stocklevel SET codes_available = codes_available + %s"
        " WHERE product_id = %s",
        (count, product_id),
    )
    return batch_id


def _codes_insert(conn: psycopg.Connection, *, product_id: int, batch_id: int, count: int) -> None:
    salt = secrets.token_hex(8)
    conn.execute(
        "INSERT INTO fulfillment_code (status, blind_index, key_id, ciphertext, delivered_at,"
        " status_changed_at, batch_id, order_line_id, product_id)"
        " SELECT 'available', sha256((%(salt)s || g)::bytea), 'b1',"
        " substring(sha256(('c' || %(salt)s || g)::bytea) || sha256(('d' || %(salt)s || g)::bytea)"
        "  for %(length)s), NULL, now(), %(batch)s, NULL, %(product)s"
        " FROM generate_series(1, %(count)s) AS g",
        {
            "salt": f"{batch_id}-{salt}-",
            "length": CIPHERTEXT_BYTES,
            "batch": batch_id,
            "product": product_id,
            "count": count,
        },
    )


def orders_paid_create(
    conn: psycopg.Connection, *, product_id: int, count: int, holding: bool = True
) -> list[int]:
    """``count`` paid orders of one unit each, holding their unit (StockLevel.units_held)."""
    tag = secrets.token_hex(3).upper()
    ids = [
        row[0]
        for row in conn.execute(
            "INSERT INTO shop_order (created_at, updated_at, number, email, status, currency,"
            " total_minor, terms_version, terms_accepted_at, language, holds_reservation,"
            " reserved_until, paid_at, delivered_at)"
            " SELECT now(), now(), 'KS-' || %(tag)s || lpad(g::text, 8, '0'),"
            " 'buyer-' || %(tag)s || '-' || g || '@example.com', 'paid', 'EUR', 1999, 'bench',"
            " now(), 'en',"
            " %(holding)s, now() + interval '1 day', now(), NULL"
            " FROM generate_series(1, %(count)s) AS g RETURNING id",
            {"tag": tag, "count": count, "holding": holding},
        )
    ]
    conn.execute(
        "INSERT INTO shop_orderline (quantity, unit_price_minor, order_id, product_id)"
        " SELECT 1, 1999, id, %s FROM unnest(%s::bigint[]) AS id",
        (product_id, ids),
    )
    if holding:
        conn.execute(
            "UPDATE fulfillment_stocklevel SET units_held = units_held + %s WHERE product_id = %s",
            (count, product_id),
        )
    return sorted(ids)


@contextlib.contextmanager
def bulk_load(conn: psycopg.Connection, *, tables: list[str], keep: set[str]) -> Iterator[None]:
    """Load rows fast: secondary indexes dropped while rows pour in, rebuilt after.

    Primary keys and the indexes named in ``keep`` stay (and keep whatever state
    the load leaves in them); foreign-key triggers are off for this session
    (``session_replication_role``: the rows written are consistent by construction).
    """
    conn.execute("SET session_replication_role = replica")
    conn.execute("SET maintenance_work_mem = '256MB'")
    rebuild = []
    for table in tables:
        constraints = conn.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = %s::regclass AND contype = 'u'",
            (table,),
        ).fetchall()
        for name, definition in constraints:
            conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
            rebuild.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        indexes = conn.execute(
            "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x"
            " JOIN pg_class i ON i.oid = x.indexrelid"
            " WHERE x.indrelid = %s::regclass AND NOT x.indisprimary"
            " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)",
            (table,),
        ).fetchall()
        for name, definition in indexes:
            if name not in keep:
                conn.execute(f'DROP INDEX "{name}"')
                rebuild.append(definition)
    try:
        yield
    finally:
        for statement in rebuild:
            conn.execute(statement)
        conn.execute("RESET session_replication_role")
        conn.execute("RESET maintenance_work_mem")


def codes_sold_add(
    conn: psycopg.Connection, *, product_id: int, supplier_id: int, count: int
) -> dict[str, float]:
    """``count`` codes sold the way delivery sells them, one per delivered order.

    The codes are made available, then updated to sold, as delivery does: the
    UPDATE leaves a dead entry per code at the head of the available-codes index
    (until VACUUM) and a new row version. Each goes to its own delivered order,
    paid over the past ``count`` minutes, so the order tables grow as they would.
    """
    tables = ["fulfillment_code", "shop_order", "shop_orderline"]
    steps: dict[str, float] = {}
    began = time.perf_counter()
    with bulk_load(conn, tables=tables, keep={"code_available_queue"}):
        steps["drop indexes"] = time.perf_counter() - began
        _codes_sold_add(
            conn, product_id=product_id, supplier_id=supplier_id, count=count, steps=steps
        )
        began = time.perf_counter()
    steps["rebuild indexes"] = time.perf_counter() - began
    return steps


def _codes_sold_add(
    conn: psycopg.Connection, *, product_id: int, supplier_id: int, count: int, steps: dict
) -> None:
    began = time.perf_counter()
    batch_id = batch_create(conn, product_id=product_id, supplier_id=supplier_id, status="sellable")
    # Codes and orders are independent: written at once, on two connections (two cores).
    with psycopg.connect(conn.info.dsn, autocommit=True) as other:
        other.execute("SET session_replication_role = replica")
        orders = threading.Thread(
            target=_sold_orders_insert,
            args=(other,),
            kwargs={"product_id": product_id, "count": count},
        )
        orders.start()
        try:
            _codes_insert(conn, product_id=product_id, batch_id=batch_id, count=count)
        finally:
            orders.join()
    steps["insert codes and orders"] = time.perf_counter() - began
    began = time.perf_counter()
    # The n-th code of the batch goes to the n-th sold line of the product.
    conn.execute(
        "WITH l AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM shop_orderline"
        "  WHERE product_id = %(product)s),"
        " c AS (SELECT id, row_number() OVER (ORDER BY id) AS n"
        "  FROM fulfillment_code WHERE batch_id = %(batch)s)"
        " UPDATE fulfillment_code AS code SET status = 'delivered', order_line_id = l.id,"
        " delivered_at = now(), status_changed_at = now()"
        " FROM c JOIN l USING (n) WHERE code.id = c.id",
        {"product": product_id, "batch": batch_id},
    )
    conn.execute("UPDATE fulfillment_batch SET status = 'exhausted' WHERE id = %s", (batch_id,))
    steps["sell codes"] = time.perf_counter() - began


def _sold_orders_insert(conn: psycopg.Connection, *, product_id: int, count: int) -> None:
    """``count`` delivered orders of one line each, paid one a minute up to now."""
    tag = "S" + secrets.token_hex(3).upper()
    conn.execute(
        "WITH o AS (INSERT INTO shop_order (created_at, updated_at, number, email, status,"
        " currency, total_minor, terms_version, terms_accepted_at, language, holds_reservation,"
        " reserved_until, paid_at, delivered_at)"
        " SELECT t, t, 'KS-' || %(tag)s || lpad(g::text, 8, '0'),"
        " 'sold-' || %(tag)s || '-' || g || '@example.com', 'delivered', 'EUR', 1999, 'bench',"
        " t, 'en', false, NULL, t, t"
        " FROM generate_series(1, %(count)s) AS g,"
        " LATERAL (SELECT now() - make_interval(mins => %(count)s - g)) AS at(t) RETURNING id)"
        " INSERT INTO shop_orderline (quantity, unit_price_minor, order_id, product_id)"
        " SELECT 1, 1999, id, %(product)s FROM o",
        {"tag": tag, "count": count, "product": product_id},
    )
