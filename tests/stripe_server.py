"""A small local stand-in for Stripe's API, so tests run the real stripe SDK without the internet.

It answers the Checkout Session endpoints pixstock calls (create, retrieve, expire), keeps the
sessions in memory, honours Idempotency-Key like Stripe (same key, same answer), and records
every request so tests can assert what the SDK sent. It also builds and signs webhook events with
Stripe's documented scheme (``t=<unix>,v1=<HMAC-SHA256 of "<t>.<body>">``).

    with FakeStripe() as fake:
        app = make_app(STRIPE_SECRET_KEY="sk_test_x", STRIPE_API_BASE=fake.url, STRIPE_WEBHOOK_SECRET=SECRET)
        ...
        fake.complete(session_id)                       # the customer paid
        body, headers = fake.webhook("checkout.session.completed", fake.sessions[session_id], SECRET)
        client.post("/stripe/webhook", data=body, headers=headers)
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict
    form: dict = field(default_factory=dict)  # flat: "line_items[0][price_data][currency]" -> "thb"


def nest(form: dict) -> dict:
    """Turn Stripe's flat form keys (a[0][b]=c) back into nested dicts and lists."""
    root: dict = {}
    for key, value in form.items():
        parts = re.findall(r"[^\[\]]+", key)
        node = root
        for part, following in zip(parts, parts[1:]):
            node = node.setdefault(part, {})
        node[parts[-1]] = value

    def listify(node):
        if isinstance(node, dict):
            if node and all(k.isdigit() for k in node):
                return [listify(node[k]) for k in sorted(node, key=int)]
            return {k: listify(v) for k, v in node.items()}
        return node

    return listify(root)


class FakeStripe:
    """The fake API server; use as a context manager, read .url, .requests and .sessions."""

    def __init__(self):
        self.requests: list[RecordedRequest] = []
        self.sessions: dict[str, dict] = {}
        self._idempotent: dict[str, tuple[int, dict]] = {}
        self._lock = threading.Lock()
        self.fail_next = 0  # answer this many requests with a 500 (a Stripe outage)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def _reply(self, status: int, body: dict):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Request-Id", "req_" + secrets.token_hex(6))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method: str):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                path, _, query = self.path.partition("?")
                form = dict(parse_qsl(raw or query, keep_blank_values=True))
                recorded = RecordedRequest(method, path, dict(self.headers.items()), form)
                with fake._lock:
                    fake.requests.append(recorded)
                    if fake.fail_next:
                        fake.fail_next -= 1
                        return self._reply(500, {"error": {"type": "api_error", "message": "outage"}})
                    key = self.headers.get("Idempotency-Key")
                    if method == "POST" and key and key in fake._idempotent:
                        return self._reply(*fake._idempotent[key])
                    status, body = fake._route(method, path, form)
                    if method == "POST" and key:
                        fake._idempotent[key] = (status, body)
                self._reply(status, body)

            def do_GET(self):
                self._handle("GET")

            def do_POST(self):
                self._handle("POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    # --- the API -------------------------------------------------------------------------------

    def _route(self, method: str, path: str, form: dict) -> tuple[int, dict]:
        if method == "POST" and path == "/v1/checkout/sessions":
            return 200, self._create_session(nest(form))
        match = re.fullmatch(r"/v1/checkout/sessions/([^/]+)(/expire)?", path)
        if match and match.group(1) in self.sessions:
            session = self.sessions[match.group(1)]
            if method == "POST" and match.group(2):
                if session["status"] != "open":
                    return 400, {"error": {"type": "invalid_request_error", "message": "not open"}}
                session["status"] = "expired"
            return 200, session
        return 404, {"error": {"type": "invalid_request_error", "message": f"No such resource: {path}"}}

    def _create_session(self, params: dict) -> dict:
        session_id = "cs_test_" + secrets.token_hex(12)
        items = params.get("line_items", [])
        amount = sum(int(item["price_data"]["unit_amount"]) * int(item["quantity"]) for item in items)
        session = {
            "id": session_id,
            "object": "checkout.session",
            "url": f"https://checkout.stripe.test/c/pay/{session_id}",
            "mode": params.get("mode"),
            "status": "open",
            "payment_status": "unpaid",
            "amount_total": amount,
            "currency": items[0]["price_data"]["currency"] if items else None,
            "customer_email": params.get("customer_email"),
            "client_reference_id": params.get("client_reference_id"),
            "metadata": params.get("metadata", {}),
            "payment_method_types": params.get("payment_method_types", []),
            "payment_intent": None,
            "success_url": params.get("success_url"),
            "cancel_url": params.get("cancel_url"),
            "created": int(time.time()),
        }
        self.sessions[session_id] = session
        return session

    # --- what tests drive -------------------------------------------------------------------------

    def checkout_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST" and r.path == "/v1/checkout/sessions"]

    def complete(self, session_id: str, payment_status: str = "paid") -> dict:
        """The customer finished checkout: paid (card) or unpaid (PromptPay still to come)."""
        session = self.sessions[session_id]
        session.update(status="complete", payment_status=payment_status,
                       payment_intent=session["payment_intent"] or "pi_" + secrets.token_hex(12))
        return session

    @staticmethod
    def event(event_type: str, data_object: dict, event_id: str | None = None) -> dict:
        return {
            "id": event_id or "evt_" + secrets.token_hex(12),
            "object": "event",
            "api_version": "2025-01-01",
            "created": int(time.time()),
            "type": event_type,
            "data": {"object": data_object},
        }

    @staticmethod
    def charge_refunded(session: dict, amount_refunded: int | None = None) -> dict:
        amount = session["amount_total"]
        refunded = amount if amount_refunded is None else amount_refunded
        return {
            "id": "ch_" + secrets.token_hex(12), "object": "charge", "amount": amount,
            "amount_refunded": refunded, "refunded": refunded >= amount,
            "currency": session["currency"], "payment_intent": session["payment_intent"],
        }

    @staticmethod
    def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
        """The Stripe-Signature header value for payload."""
        timestamp = int(time.time()) if timestamp is None else timestamp
        signed = f"{timestamp}.".encode() + payload
        digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        return f"t={timestamp},v1={digest}"

    def webhook(self, event_type: str, data_object: dict, secret: str, event_id: str | None = None,
                timestamp: int | None = None) -> tuple[bytes, dict]:
        """A signed webhook delivery: (raw body, headers)."""
        body = json.dumps(self.event(event_type, data_object, event_id)).encode()
        return body, {"Stripe-Signature": self.sign(body, secret, timestamp), "Content-Type": "application/json"}
