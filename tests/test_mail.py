"""Mail: building messages, the .eml outbox, and SMTP delivery to a real local server (aiosmtpd).

These tests use no Flask app fixture, so they run with or without tests/conftest.py.
"""
import email.utils
import os
import smtplib
import socket
import threading
import time
from email import policy
from email.parser import BytesParser

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from pixstock.services.mail import build_message, deliver, read_outbox

THAI_SUBJECT = "รูปงานวิ่งของคุณพร้อมดาวน์โหลดแล้ว"
THAI_TEXT = "สวัสดีครับ คุณสมชาย\nดาวน์โหลดรูปได้ที่ลิงก์นี้ภายใน 30 วัน\n"
THAI_HTML = "<p>สวัสดีครับ คุณสมชาย</p><p><a href='https://example.com/d/1'>ดาวน์โหลด</a></p>"
SENDER = "pixstock <no-reply@pixstock.test>"


@pytest.fixture
def outbox_config(tmp_path):
    return {"MAIL_SERVER": None, "MAIL_SENDER": SENDER, "MAIL_OUTBOX_DIR": str(tmp_path / "outbox")}


# --- building --------------------------------------------------------------------------------


def test_build_message_headers_and_parts():
    message = build_message(["สมชาย <somchai@example.com>", "b@example.com"], THAI_SUBJECT, THAI_TEXT, THAI_HTML, SENDER)
    assert message["Subject"] == THAI_SUBJECT
    assert message["From"] == SENDER
    assert [address for _, address in email.utils.getaddresses([message["To"]])] == [
        "somchai@example.com",
        "b@example.com",
    ]
    assert message["Message-ID"].endswith("@pixstock.test>")
    assert abs(email.utils.parsedate_to_datetime(message["Date"]).timestamp() - time.time()) < 60
    assert message.get_content_type() == "multipart/alternative"
    plain, html = message.iter_parts()
    assert (plain.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")  # richest last
    # Headers go out as RFC 2047 encoded words and bodies 7-bit clean, so any relay passes them.
    message.as_bytes().decode("ascii")


def test_text_only_message_is_not_multipart():
    message = build_message("a@example.com", "Hi", "just text", sender=SENDER)
    assert message.get_content_type() == "text/plain"
    assert message.get_content() == "just text\n"


def test_message_ids_are_unique():
    ids = {build_message("a@example.com", "s", "t")["Message-ID"] for _ in range(50)}
    assert len(ids) == 50


@pytest.mark.parametrize("field", ["subject", "to"])
def test_header_injection_is_refused(field):
    values = {"to": "a@example.com", "subject": "Hello"}
    values[field] += "\r\nBcc: victim@example.com"
    with pytest.raises(ValueError):
        build_message(values["to"], values["subject"], "body")


def test_no_recipient_is_refused():
    with pytest.raises(ValueError):
        build_message([], "s", "t")


# --- outbox ----------------------------------------------------------------------------------


def test_outbox_round_trips_thai_text_and_html(outbox_config):
    path = deliver(build_message("สมชาย <somchai@example.com>", THAI_SUBJECT, THAI_TEXT, THAI_HTML), outbox_config)
    assert os.path.dirname(path) == outbox_config["MAIL_OUTBOX_DIR"] and path.endswith(".eml")
    raw = open(path, "rb").read()
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")  # .eml as on the wire
    (message,) = read_outbox(outbox_config["MAIL_OUTBOX_DIR"])
    assert message["Subject"] == THAI_SUBJECT
    assert message["To"] == "สมชาย <somchai@example.com>"
    assert message["From"] == SENDER  # filled from MAIL_SENDER
    assert message["Message-ID"] and message["Date"]
    assert message.get_content_type() == "multipart/alternative"
    assert message.get_body(("plain",)).get_content().replace("\r\n", "\n") == THAI_TEXT
    assert message.get_body(("html",)).get_content().strip() == THAI_HTML


def test_outbox_is_newest_last(outbox_config, tmp_path):
    for index in range(12):
        deliver(build_message("a@example.com", f"message {index}", "t"), outbox_config)
    outbox = outbox_config["MAIL_OUTBOX_DIR"]
    names = os.listdir(outbox)
    assert len(set(names)) == 12 and all(name.endswith(".eml") for name in names)
    assert [m["Subject"] for m in read_outbox(outbox)] == [f"message {index}" for index in range(12)]
    # The order comes from the names, not from the directory listing or file times:
    # the same files copied newest first still read oldest first.
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in sorted(names, reverse=True):
        (copy / name).write_bytes(open(os.path.join(outbox, name), "rb").read())
    assert [m["Subject"] for m in read_outbox(copy)] == [f"message {index}" for index in range(12)]


def test_outbox_file_names_start_with_the_utc_time(outbox_config):
    before = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    path = deliver(build_message("a@example.com", "s", "t"), outbox_config)
    after = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    assert before <= os.path.basename(path)[: len(before)] <= after


def test_outbox_write_is_atomic(outbox_config, monkeypatch):
    def broken_replace(source, target):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        deliver(build_message("a@example.com", "s", "t"), outbox_config)
    assert os.listdir(outbox_config["MAIL_OUTBOX_DIR"]) == []  # no half file, no temp file


def test_read_outbox_ignores_partial_files_and_missing_dirs(outbox_config, tmp_path):
    assert read_outbox(tmp_path / "never-created") == []
    deliver(build_message("a@example.com", "s", "t"), outbox_config)
    open(os.path.join(outbox_config["MAIL_OUTBOX_DIR"], ".outbox-x.tmp"), "wb").write(b"Subject: partial")
    assert [m["Subject"] for m in read_outbox(outbox_config["MAIL_OUTBOX_DIR"])] == ["s"]


def test_deliver_needs_a_sender(outbox_config):
    outbox_config["MAIL_SENDER"] = None
    with pytest.raises(ValueError):
        deliver(build_message("a@example.com", "s", "t"), outbox_config)


def test_explicit_sender_is_kept(outbox_config):
    deliver(build_message("a@example.com", "s", "t", sender="Studio <studio@example.com>"), outbox_config)
    assert read_outbox(outbox_config["MAIL_OUTBOX_DIR"])[0]["From"] == "Studio <studio@example.com>"


# --- SMTP ------------------------------------------------------------------------------------


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RecordingHandler:
    """An aiosmtpd handler that keeps every envelope it is given."""

    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp_server():
    """Start an SMTP server in a thread on 127.0.0.1; returns (handler, port). Kwargs go to aiosmtpd."""
    controllers = []

    def start(**kwargs):
        handler = RecordingHandler()
        port = free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
        controller.start()
        controllers.append(controller)
        return handler, port

    yield start
    for controller in controllers:
        controller.stop()


def smtp_config(port, outbox, **overrides):
    config = {
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": port,
        "MAIL_USE_TLS": False,
        "MAIL_USERNAME": None,
        "MAIL_PASSWORD": None,
        "MAIL_SENDER": SENDER,
        "MAIL_OUTBOX_DIR": str(outbox),
        "MAIL_TIMEOUT": 5,
    }
    config.update(overrides)
    return config


def test_smtp_delivers_the_message(smtp_server, tmp_path):
    handler, port = smtp_server()
    message = build_message(["สมชาย <somchai@example.com>", "b@example.com"], THAI_SUBJECT, THAI_TEXT, THAI_HTML)
    assert deliver(message, smtp_config(port, tmp_path / "outbox")) is None
    (envelope,) = handler.envelopes
    assert envelope.mail_from == "no-reply@pixstock.test"
    assert envelope.rcpt_tos == ["somchai@example.com", "b@example.com"]
    received = BytesParser(policy=policy.default).parsebytes(envelope.original_content)
    assert received["Subject"] == THAI_SUBJECT
    assert received["Message-ID"] == message["Message-ID"]
    assert received.get_body(("plain",)).get_content().replace("\r\n", "\n") == THAI_TEXT
    assert received.get_body(("html",)).get_content().strip() == THAI_HTML
    assert not (tmp_path / "outbox").exists()  # SMTP configured: nothing goes to the outbox


# aiosmtpd warns about AUTH without TLS on every connection; on loopback that is what we want.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_smtp_logs_in_when_a_username_is_set(smtp_server, tmp_path):
    logins = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        assert isinstance(auth_data, LoginPassword)
        logins.append((auth_data.login, auth_data.password))
        # handled=False: let aiosmtpd answer 535 itself on a failure.
        return AuthResult(success=auth_data == LoginPassword(b"shop", b"s3cret"), handled=False)

    handler, port = smtp_server(authenticator=authenticator, auth_require_tls=False, auth_required=True)
    config = smtp_config(port, tmp_path, MAIL_USERNAME="shop", MAIL_PASSWORD="s3cret")
    deliver(build_message("a@example.com", "s", "t"), config)
    assert logins == [(b"shop", b"s3cret")]
    assert len(handler.envelopes) == 1

    with pytest.raises(smtplib.SMTPAuthenticationError):
        deliver(build_message("a@example.com", "s", "t"), {**config, "MAIL_PASSWORD": "wrong"})
    # Without a username it does not log in, and this server refuses unauthenticated mail.
    with pytest.raises(smtplib.SMTPException):
        deliver(build_message("a@example.com", "s", "t"), {**config, "MAIL_USERNAME": None})
    assert len(handler.envelopes) == 1


def test_smtp_never_falls_back_to_plain_text_when_tls_is_asked(smtp_server, tmp_path):
    handler, port = smtp_server()  # offers no STARTTLS
    with pytest.raises(smtplib.SMTPNotSupportedError):
        deliver(build_message("a@example.com", "s", "t"), smtp_config(port, tmp_path, MAIL_USE_TLS=True))
    assert handler.envelopes == []


def test_unreachable_smtp_server_raises(tmp_path):
    with pytest.raises(OSError):  # ConnectionRefusedError: the job fails and RQ retries it
        deliver(build_message("a@example.com", "s", "t"), smtp_config(free_port(), tmp_path / "outbox"))
    assert not (tmp_path / "outbox").exists()


def test_silent_smtp_server_times_out(tmp_path):
    outcome = []

    def send(port):
        try:
            deliver(build_message("a@example.com", "s", "t"), smtp_config(port, tmp_path, MAIL_TIMEOUT=1))
        except Exception as error:  # noqa: BLE001 - handed to the test thread
            outcome.append(error)

    with socket.socket() as silent:  # accepts connections (backlog) but never greets
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        # In a thread, so a missing timeout fails this test instead of hanging the run.
        sender = threading.Thread(target=send, args=(silent.getsockname()[1],), daemon=True)
        sender.start()
        sender.join(timeout=10)
        assert not sender.is_alive(), "deliver() waited more than 10 s on a silent server"
    # smtplib reports the socket timeout as a disconnection; both are OSErrors, so RQ retries.
    (error,) = outcome
    assert isinstance(error, smtplib.SMTPServerDisconnected) and "timed out" in str(error)
