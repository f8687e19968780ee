"""Import: generated code files through the real import service, beside a plain COPY.

For each size (100k and 1M codes) a file of unique codes is written first (not
timed), then a child process imports it with ``batch_create`` + ``batch_import``
(validation, de-duplication against the vault, sealing, insert, in one
transaction) and reports its time and its peak memory (``ru_maxrss``, with the
figure it had before the import began: Django and the app loaded). Beside it,
the same number of rows of the same size goes into the same table with a plain
``COPY … FROM STDIN`` from a prepared file.

    .venv/bin/python -m bench.imports --size full
"""

import json
import os
import resource
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import harness, seed
from bench.harness import Run, say

SIZES: dict[str, dict[str, Any]] = {
    "tiny": {"counts": (2_000,)},
    "full": {"counts": (100_000, 1_000_000)},
}
TARGET_RATE = 50_000
TARGET_PEAK_MB = 300
COPY_COLUMNS = (
    "status, blind_index, key_id, ciphertext, delivered_at, status_changed_at, batch_id,"
    " order_line_id, product_id"
)


def codes_file_write(path: Path, count: int) -> None:
    """``count`` distinct codes, one a line, as suppliers send them (24 characters each)."""
    with open(path, "w") as out:
        for _ in range(count // 1000):
            out.write(
                "".join(
                    f"BENCH-{t[:6]}-{t[6:12]}-{t[12:17]}\n"
                    for t in (secrets.token_hex(9).upper() for _ in range(1000))
                )
            )
        for _ in range(count % 1000):
            t = secrets.token_hex(9).upper()
            out.write(f"BENCH-{t[:6]}-{t[6:12]}-{t[12:17]}\n")


def copy_file_write(path: Path, count: int, *, batch_id: int, product_id: int) -> None:
    """The same number of rows, already in COPY's text format, with random sealed-size bytes."""
    with open(path, "w") as out:
        for start in range(0, count, 1000):
            rows = []
            for _ in range(min(1000, count - start)):
                blind = os.urandom(32).hex()
                sealed = os.urandom(seed.CIPHERTEXT_BYTES).hex()
                rows.append(
                    f"held_back\t\\\\x{blind}\tb1\t\\\\x{sealed}\t\\N\t2026-01-01 00:00:00+00"
                    f"\t{batch_id}\t\\N\t{product_id}\n"
                )
            out.write("".join(rows))


def copy_rows(run: Run, path: Path) -> float:
    """Seconds to COPY the prepared rows into fulfillment_code and commit."""
    import psycopg

    with psycopg.connect(run.database_url) as conn:
        began = time.perf_counter()
        with (
            conn.cursor() as cursor,
            cursor.copy(f"COPY fulfillment_code ({COPY_COLUMNS}) FROM STDIN") as copy,
            open(path, "rb") as data,
        ):
            while block := data.read(1 << 20):
                copy.write(block)
        conn.commit()
        return time.perf_counter() - began


def import_in_child(run: Run, *, product_id: int, supplier_id: int, path: Path, profiler):
    process = subprocess.Popen(
        [
            harness.PYTHON,
            "-m",
            "bench.imports",
            "--child",
            str(product_id),
            str(supplier_id),
            str(path),
        ],
        cwd=harness.REPO,
        env=run.env,
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        profiler.attach(process.pid, f"import-{path.stem}")
        out, _ = process.communicate(timeout=540)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        profiler.detach()
    if process.returncode:
        raise RuntimeError(f"the import child failed ({process.returncode})")
    return json.loads(out.decode().strip().splitlines()[-1])


def child(product_id: int, supplier_id: int, path: str) -> None:
    """In the child: import the file once, print a JSON line of figures."""
    import django

    django.setup()
    from fulfillment.models import Supplier
    from fulfillment.services.imports import batch_create, batch_import
    from shop.models import Product

    product = Product.objects.get(pk=product_id)
    supplier = Supplier.objects.get(pk=supplier_id)
    before_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    began = time.perf_counter()
    batch = batch_create(supplier=supplier, product=product, file_name="bench.txt", actor=None)
    batch = batch_import(batch_id=batch.pk, path_or_file=path, file_format="txt")
    seconds = time.perf_counter() - began
    print(
        json.dumps(
            {
                "status": batch.status,
                "codes": batch.codes_imported,
                "rejected": batch.lines_rejected,
                "seconds": seconds,
                "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                "before_kb": before_kb,
            }
        ),
        flush=True,
    )


def insert_paths_compare(run: Run, *, count: int) -> dict[str, float]:
    """``--proposed``: the same sealed codes written by bulk_create (two chunk sizes) and COPY.

    In this process, in one transaction each, blind index and sealing included, so
    the figures compare what ``_codes_import`` could use to write a chunk.
    """
    from django.db import connection, transaction
    from django.utils import timezone

    from fulfillment import vault
    from fulfillment.models import Batch, Code, Supplier
    from shop.models import Category, Product

    category = Category.objects.create(name="Insert paths", slug=f"paths-{secrets.token_hex(3)}")

    def sealed_rows(product: Product, batch: Batch) -> list[tuple]:
        rows = []
        for _ in range(count):
            code = f"BENCH-{secrets.token_hex(9).upper()}"
            index = vault.blind_index(code, product_id=product.pk)
            sealed = vault.seal(code, product_id=product.pk, blind_index=index)
            rows.append((product.pk, batch.pk, index, sealed.key_id, sealed.ciphertext))
        return rows

    def orm(size: int):
        def write(rows: list[tuple]) -> None:
            for start in range(0, len(rows), size):
                Code.objects.bulk_create(
                    Code(product_id=p, batch_id=b, blind_index=i, key_id=k, ciphertext=c)
                    for p, b, i, k, c in rows[start : start + size]
                )

        return write

    def copy(rows: list[tuple]) -> None:
        now = timezone.now()
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(
                "COPY fulfillment_code (product_id, batch_id, status, blind_index, key_id,"
                " ciphertext, status_changed_at) FROM STDIN"
            ) as out,
        ):
            for p, b, i, k, c in rows:
                out.write_row((p, b, "held_back", i, k, c, now))

    rates = {}
    for label, write in (
        ("bulk_create, 5,000 a chunk", orm(5000)),
        ("bulk_create, 500 a chunk", orm(500)),
        ("COPY (psycopg, same transaction)", copy),
    ):
        product = Product.objects.create(
            category=category, name=label, slug=f"paths-{secrets.token_hex(4)}", price_minor=100
        )
        supplier = Supplier.objects.create(name=f"Paths {secrets.token_hex(4)}")
        batch = Batch.objects.create(supplier=supplier, product=product)
        began = time.perf_counter()
        with transaction.atomic():
            write(sealed_rows(product, batch))
        rates[label] = count / (time.perf_counter() - began)
        say(f"write path: {label:<34} {rates[label]:8,.0f} codes/s (sealing included)")
    return rates


def options(parser) -> None:
    parser.add_argument(
        "--proposed",
        action="store_true",
        help="compare the ways a chunk of sealed codes can be written (bulk_create, COPY)",
    )


def body(run: Run) -> None:
    size = SIZES[run.size]
    profiler = harness.Profiler(run)
    folder = run.var_dir / "import"
    folder.mkdir(exist_ok=True)
    figures = {}
    with seed.connect(run) as conn:
        category_id, supplier_id = seed.catalogue_basics(conn)
        for count in size["counts"]:
            codes_path = folder / f"codes-{count}.txt"
            copy_path = folder / f"copy-{count}.tsv"
            try:
                codes_file_write(codes_path, count)
                product_id = seed.product_create(conn, category_id=category_id, name=f"Imp {count}")
                got = import_in_child(
                    run,
                    product_id=product_id,
                    supplier_id=supplier_id,
                    path=codes_path,
                    profiler=profiler,
                )
                if got["status"] != "quarantined" or got["codes"] != count:
                    raise RuntimeError(f"the import did not take every code: {got}")
                copy_product = seed.product_create(
                    conn, category_id=category_id, name=f"Copy {count}"
                )
                batch_id = seed.batch_create(
                    conn, product_id=copy_product, supplier_id=supplier_id, status="quarantined"
                )
                copy_file_write(copy_path, count, batch_id=batch_id, product_id=copy_product)
                copy_seconds = copy_rows(run, copy_path)
            finally:
                codes_path.unlink(missing_ok=True)
                copy_path.unlink(missing_ok=True)
            rate = count / got["seconds"]
            copy_rate = count / copy_seconds
            peak_mb = got["maxrss_kb"] / 1024
            say(
                f"import {count:>9,} codes: keyshop {rate:8,.0f} codes/s, "
                f"peak RSS {peak_mb:5.0f} MB"
                f" ({got['before_kb'] / 1024:.0f} MB before the import)   COPY {copy_rate:9,.0f}"
                f" rows/s   ratio {rate / copy_rate:4.2f}x"
            )
            say(
                f"{'':<20} target >= {TARGET_RATE:,} codes/s: "
                f"{harness.verdict(rate >= TARGET_RATE)}; peak < {TARGET_PEAK_MB} MB: "
                f"{harness.verdict(peak_mb < TARGET_PEAK_MB)}"
            )
            figures[count] = {
                "keyshop_rate": rate,
                "copy_rate": copy_rate,
                "peak_mb": peak_mb,
                "before_mb": got["before_kb"] / 1024,
            }
    run.results["import"] = figures
    if run.options.get("proposed"):
        count = 20_000 if run.size == "full" else 1_000
        run.results["write_paths"] = insert_paths_compare(run, count=count)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    else:
        harness.main(body, harness.arguments(__doc__.splitlines()[0], extra=options), "imports")
