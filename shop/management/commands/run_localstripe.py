"""Run localstripe, the fake Stripe server, on 127.0.0.1 for development and tests.

    python manage.py run_localstripe [--port 8420] [--webhook-url URL]

The shop reaches it through the real Stripe client (``STRIPE_API_BASE``) and the
browser loads its stand-in Stripe.js from ``<base>/js.stripe.com/v3/``. The fake is
patched at start-up to behave like real Stripe where our flow needs it (see
``shop.localstripe_patches``). Each run starts with an empty store, which
localstripe saves after every write to ``VAR_DIR/localstripe/store-<port>.pickle``
(not its shared /tmp/localstripe.pickle) and which is deleted when the server
stops. With ``--webhook-url`` it sends webhooks, signed with
``STRIPE_WEBHOOK_SECRET``, to that URL.
"""

import asyncio
import logging
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

HOST = "127.0.0.1"  # never every interface: the fake takes any key
WEBHOOK_ENDPOINT_ID = "keyshop"


class Command(BaseCommand):
    help = "Run localstripe (a fake Stripe server) on 127.0.0.1."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8420)
        parser.add_argument(
            "--webhook-url", help="where to send signed webhooks, e.g. http://127.0.0.1:8000/..."
        )

    def handle(self, *args: Any, port: int, webhook_url: str | None, **options: Any) -> None:
        try:
            from aiohttp import ClientError, ClientSession, web

            from shop import localstripe_patches
        except ImportError as error:
            raise CommandError(
                f"localstripe is a development dependency; install .[dev] ({error})"
            ) from error
        if webhook_url and not webhook_url.startswith(("http://", "https://")):
            raise CommandError("--webhook-url must be an http(s) URL")

        store_path = settings.VAR_DIR / "localstripe" / f"store-{port}.pickle"
        app = localstripe_patches.app_build(store_path=store_path)
        pending: set[asyncio.Task[None]] = set()

        async def webhook_register() -> None:
            # localstripe's own endpoint, once the server answers.
            url = f"http://{HOST}:{port}/_config/webhooks/{WEBHOOK_ENDPOINT_ID}"
            data = {"url": webhook_url, "secret": settings.STRIPE_WEBHOOK_SECRET}
            async with ClientSession() as session:
                for _attempt in range(100):
                    try:
                        async with session.post(url, data=data) as response:
                            response.raise_for_status()
                    except ClientError:
                        await asyncio.sleep(0.1)
                        continue
                    self.stdout.write(f"localstripe sends webhooks to {webhook_url}")
                    return
            self.stderr.write("localstripe: could not register the webhook URL")

        async def on_startup(_app: web.Application) -> None:
            if webhook_url:
                task = asyncio.create_task(webhook_register())
                pending.add(task)
                task.add_done_callback(pending.discard)

        async def on_cleanup(_app: web.Application) -> None:
            store_path.unlink(missing_ok=True)  # never loaded again: each run starts empty

        app.on_startup.append(on_startup)
        app.on_cleanup.append(on_cleanup)
        self.stdout.write(f"localstripe on http://{HOST}:{port} (store {store_path})")
        web.run_app(
            app,
            host=HOST,
            port=port,
            access_log=logging.getLogger("aiohttp.access"),
            print=None,
        )
