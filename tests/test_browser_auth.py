"""A person registers, signs in, switches to Thai and reads Thai, in a real Chromium."""
import re

import pytest
from playwright.sync_api import expect

from .factories import PASSWORD

pytestmark = pytest.mark.browser


def test_register_login_and_switch_to_thai(live_server, page):
    page.goto("/")
    page.get_by_role("link", name="Register").click()
    page.get_by_label("Email").fill("runner@example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_text("Welcome to pixstock!")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You are signed out.")).to_be_visible()
    page.get_by_role("link", name="Sign in").click()
    page.get_by_label("Email").fill("runner@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("link", name="Account")).to_be_visible()

    page.get_by_role("button", name="ไทย").click()
    expect(page.locator("html")).to_have_attribute("lang", "th")
    expect(page.get_by_role("button", name="ออกจากระบบ")).to_be_visible()
    expect(page.get_by_text("ค้นหาภาพของคุณในงาน")).to_be_visible()
    # Remembered on the account: a new sign-in on a fresh browser context keeps Thai.
    page.context.clear_cookies()
    page.goto("/auth/login")
    page.get_by_label("Email").fill("runner@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("html")).to_have_attribute("lang", "th")
    assert re.search("บัญชี", page.content())
