"""A webhook receiver on 127.0.0.1 and the reseller's side of registering and verifying."""

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from django.urls import reverse

ENDPOINTS = reverse("api:webhook_endpoints")


class Receiver:
    """An HTTP server on 127.0.0.1 that records requests and answers the given statuses."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.requests: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"headers": dict(self.headers), "body": body})
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/keyshop-hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def register_endpoint(api, url, event_types=("order.delivered", "order.refunded")) -> dict:
    response = api.post(ENDPOINTS, {"url": url, "event_types": list(event_types)}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def verify_signed(secret: str, request: dict) -> dict:
    """Check the signature as a reseller's receiver does; returns the event."""
    fields = dict(part.split("=", 1) for part in request["headers"]["Keyshop-Signature"].split(","))
    signed = f"{fields['t']}.".encode() + request["body"]
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, fields["v1"])
    assert abs(time.time() - int(fields["t"])) < 300
    return json.loads(request["body"])
