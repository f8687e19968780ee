"""Storefront: the product page and the catalogue under gunicorn, beside a bare Django view.

gunicorn (sync workers, 127.0.0.1, production settings with DEBUG off and static
files collected) serves a catalogue of 10 categories x 50 products, each with
stock. A closed-loop load generator (wrk when installed, else an aiohttp client)
requests one URL at a time: the bare view (``bench.views.bare``: the same
middleware, no query, no template; served only by the bench URL conf), the
product page, a category page (the catalogue, 24 products a page), the home
page, then the bare view again; the baseline is the mean of the two bare runs.

    .venv/bin/python -m bench.storefront --size full
"""

import subprocess
from typing import Any

from bench import harness, seed
from bench.harness import Run, say

SIZES: dict[str, dict[str, Any]] = {
    "tiny": {"seconds": 1, "warm": 1, "connections": 4, "web": 2, "categories": 2, "products": 10},
    "full": {
        "seconds": 10,
        "warm": 2,
        "connections": 8,
        "web": 4,
        "categories": 10,
        "products": 50,
    },
}
TARGET_RATIO = 0.5


def catalogue_seed(run: Run, *, categories: int, per_category: int) -> tuple[str, str]:
    """Categories of products with stock; the slugs of one product and one category."""
    with seed.connect(run) as conn:
        conn.execute(
            "INSERT INTO shop_category (created_at, updated_at, name, slug, description, position,"
            " is_active) SELECT now(), now(), 'Category ' || c, 'category-' || c, '', c, true"
            " FROM generate_series(1, %s) AS c",
            (categories,),
        )
        conn.execute(
            "INSERT INTO shop_product (created_at, updated_at, name, slug, description, platform,"
            " region, price_minor, currency, min_per_order, max_per_order, is_active, is_featured,"
            " category_id) SELECT now(), now(), 'Game ' || c.position || '-' || p,"
            " 'game-' || c.position || '-' || p, 'A code for a game.\nActivate it on Steam.',"
            " 'steam', 'global', 1999 + p, 'EUR', 1, 5, true, p <= 1, c.id"
            " FROM shop_category c, generate_series(1, %s) AS p",
            (per_category,),
        )
        conn.execute(
            "INSERT INTO fulfillment_stocklevel (product_id, codes_available, units_held,"
            " low_stock_threshold) SELECT id, 100 + id % 50, id % 7, 10 FROM shop_product"
        )
        conn.execute("ANALYZE")
    return "game-1-1", "category-1"


def body(run: Run) -> None:
    size = SIZES[run.size]
    product_slug, category_slug = catalogue_seed(
        run, categories=size["categories"], per_category=size["products"]
    )
    subprocess.run(
        [harness.PYTHON, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=harness.REPO,
        env=run.env,
        check=True,
    )
    profiler = harness.Profiler(run)
    pages = [
        ("bare view", "/bench/bare/"),
        ("product page", f"/p/{product_slug}/"),
        ("catalogue", f"/c/{category_slug}/"),
        ("home", "/"),
        ("bare view", "/bench/bare/"),
    ]
    figures: dict[str, list[dict]] = {}
    with harness.Services(run) as services:
        base = harness.gunicorn_start(services, workers=size["web"])
        say(
            f"gunicorn: {size['web']} sync workers; load: {size['connections']} connections, "
            f"{size['seconds']} s per page; 2 cores shared with PostgreSQL and the load generator"
        )
        for label, path in pages:
            url = base + path
            if not harness.http_ok(url):
                raise RuntimeError(f"{url} does not answer 200")
            harness.http_load(url, seconds=size["warm"], connections=size["connections"])
            if label == "product page":
                profiler.attach(services.processes[0][1].pid, "gunicorn-product")
            got = harness.http_load(url, seconds=size["seconds"], connections=size["connections"])
            profiler.detach()
            if got["errors"]:
                raise RuntimeError(f"{label}: {got['errors']} errors under load")
            figures.setdefault(label, []).append(got)
            say(
                f"{label:<14} {got['rps']:8.0f} req/s   p50 {got['p50_ms']:6.1f} ms   "
                f"p99 {got['p99_ms']:6.1f} ms   ({got['requests']} requests, {got['tool']})"
            )
    bare = sum(f["rps"] for f in figures["bare view"]) / len(figures["bare view"])
    summary = {}
    for label in ("product page", "catalogue", "home"):
        got = figures[label][0]
        ratio = got["rps"] / bare
        say(
            f"{label:<14} {ratio:4.2f}x the bare view ({bare:.0f} req/s)   "
            f"target >= {TARGET_RATIO}x: {harness.verdict(ratio >= TARGET_RATIO)}"
            if label != "home"
            else f"{label:<14} {ratio:4.2f}x the bare view (no target)"
        )
        summary[label] = {**got, "ratio": ratio}
    run.results["storefront"] = {"bare_rps": bare, "pages": summary}


if __name__ == "__main__":
    harness.main(body, harness.arguments(__doc__.splitlines()[0]), "storefront")
