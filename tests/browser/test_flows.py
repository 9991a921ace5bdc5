"""The front end (web/) in a real, headless Chromium against the running stack.

What these hold the API to is what a browser actually does with its answers: the token cookies
set and sent across origins with credentials, CORS preflights, HttpOnly kept from scripts.
Needs WEB_URL (tools/web_server.py) and API_URL (the stack, whose access tokens should be short
lived: the expiry flow waits for one to expire). Each flow saves a screenshot in
.local/screenshots/.
"""

import base64
import hashlib
import json
import os
import pathlib
import re
import secrets
import subprocess
import time
import urllib.request
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from playwright.sync_api import expect, sync_playwright

WEB_URL = os.environ["WEB_URL"].rstrip("/") + "/"
API_URL = os.environ["API_URL"].rstrip("/")
ACCESS_LIFETIME = int(os.environ.get("ACCESS_TOKEN_LIFETIME_SECONDS", "3600"))
ROOT = pathlib.Path(__file__).resolve().parents[2]
SHOTS = ROOT / ".local" / "screenshots"
PASSWORD = "Tutorial-Pw!7319"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def context(browser):
    context = browser.new_context(locale="en-US", viewport={"width": 1100, "height": 760})
    yield context
    context.close()


class Traffic:
    """The API requests a page sends, by path, and the page's script errors."""

    def __init__(self, page):
        self.requests = []
        self.errors = []
        page.on("request", lambda request: request.url.startswith(API_URL) and self.requests.append(request))
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def count(self, path, method=None):
        return sum(
            1
            for request in self.requests
            if request.url.split("/account/", 1)[-1] == path and (method is None or request.method == method)
        )


def shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def new_email():
    return f"browser-{secrets.token_hex(5)}@example.com"


def wait_for_the_access_token_to_expire():
    # Expiry is the API's to decide, by its own clock: the test waits out the token's real
    # (short) lifetime rather than faking the browser's clock, which the API never sees.
    if ACCESS_LIFETIME > 30:
        pytest.fail("the stack's access tokens must be short lived (ACCESS_TOKEN_LIFETIME_SECONDS)")
    time.sleep(ACCESS_LIFETIME + 1)


def join(page, email):
    page.goto(WEB_URL + "#/join")
    # The page shown before may have an email field too: fill the join page's once it is shown.
    expect(page.locator("#field-password1")).to_be_visible()
    page.fill("#field-email", email)
    page.fill("#field-password1", PASSWORD)
    page.fill("#field-password2", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("#greeting")).to_have_text(f"반갑습니다, {email}님!")


def log_in(page, email, password=PASSWORD):
    page.goto(WEB_URL + "#/login")
    expect(page.locator("h1")).to_have_text("Log in")
    page.fill("#field-email", email)
    page.fill("#field-password", password)
    page.click("button[type=submit]")


def test_join_lands_on_the_greeting_and_no_token_is_readable_by_script(context):
    page = context.new_page()
    traffic = Traffic(page)
    email = new_email()
    join(page, email)
    shot(page, "01-join-greeting")
    # The refresh token is in the cookie jar, HttpOnly, and out of every script's reach.
    cookies = {cookie["name"]: cookie for cookie in context.cookies(API_URL)}
    assert cookies["my-refresh-token"]["httpOnly"] and cookies["my-refresh-token"]["secure"]
    assert page.evaluate("document.cookie") == ""
    stored = page.evaluate("JSON.stringify({...localStorage, ...sessionStorage})")
    assert "eyJ" not in stored
    assert traffic.errors == []


def test_a_reload_stays_signed_in_by_a_silent_refresh(context):
    page = context.new_page()
    email = new_email()
    join(page, email)
    traffic = Traffic(page)
    page.reload()
    expect(page.locator("#greeting")).to_have_text(f"반갑습니다, {email}님!")
    assert traffic.count("token/refresh/", "POST") == 1
    shot(page, "02-reload-still-signed-in")


def test_an_expired_access_token_is_refreshed_once_and_the_call_succeeds(context):
    page = context.new_page()
    email = new_email()
    join(page, email)
    traffic = Traffic(page)
    wait_for_the_access_token_to_expire()
    page.click("nav a[href='#/profile']")
    expect(page.locator("#field-email")).to_have_value(email)
    # Profile reads the user once: one 401, one refresh, one retry.
    assert traffic.count("user/", "GET") == 2
    assert traffic.count("token/refresh/", "POST") == 1
    shot(page, "03-expired-access-refreshed")


def test_two_tabs_refreshing_at_once_both_stay_signed_in(context):
    first = context.new_page()
    email = new_email()
    join(first, email)
    second = context.new_page()
    # Both tabs load at once, each with a silent refresh of the same cookie: the API's reuse
    # interval lets the second converge on the first's rotation instead of revoking the session.
    second.goto(WEB_URL + "#/mypage", wait_until="commit")
    first.reload(wait_until="commit")
    for page in (first, second):
        expect(page.locator("#greeting")).to_have_text(f"반갑습니다, {email}님!")
    # And both keep working afterwards.
    for page in (first, second):
        page.reload()
        expect(page.locator("#greeting")).to_have_text(f"반갑습니다, {email}님!")
    shot(second, "04-two-tabs-second")


def test_concurrent_401s_in_one_tab_share_a_single_refresh(context):
    page = context.new_page()
    email = new_email()
    join(page, email)
    page.click("nav a[href='#/profile']")
    expect(page.locator("#field-email")).to_have_value(email)
    wait_for_the_access_token_to_expire()
    traffic = Traffic(page)
    # My page calls mypage and user together: both meet 401, and one refresh serves both (a
    # second refresh would present the rotated-away cookie: the API's theft signal).
    page.click("nav a[href='#/mypage']")
    expect(page.locator("#greeting")).to_have_text(f"반갑습니다, {email}님!")
    assert traffic.count("token/refresh/", "POST") == 1
    assert traffic.count("mypage/", "GET") == 2
    assert traffic.count("user/", "GET") == 2
    shot(page, "05-concurrent-401s-one-refresh")


def test_logout_ends_the_session_and_my_page_is_refused(context):
    page = context.new_page()
    email = new_email()
    join(page, email)
    page.click("#logout")
    expect(page.locator(".alert-info")).to_have_text("You have been logged out.")
    shot(page, "06-logged-out")
    assert {cookie["name"] for cookie in context.cookies(API_URL)} == set()
    # My page now sends the visitor to log in; a reload finds no session.
    page.goto(WEB_URL + "#/mypage")
    page.reload()
    expect(page.locator("#field-password")).to_be_visible()
    # The API itself refuses the call, from the page's origin, with its credentials.
    status = page.evaluate(
        "async (url) => (await fetch(url, {credentials: 'include'})).status", f"{API_URL}/account/mypage/"
    )
    assert status == 401


def test_a_wrong_password_shows_the_apis_message(context):
    page = context.new_page()
    email = new_email()
    join(page, email)
    page.click("#logout")
    expect(page.locator(".alert-info")).to_have_text("You have been logged out.")
    log_in(page, email, "Not-The-Password!1")
    expect(page.locator("form .alert-error")).to_have_text("Unable to log in with provided credentials.")
    shot(page, "07-wrong-password")


def test_field_errors_land_under_their_fields(context):
    page = context.new_page()
    page.goto(WEB_URL + "#/join")
    page.fill("#field-email", new_email())
    page.fill("#field-password1", "12345678")
    page.fill("#field-password2", "12345678")
    page.click("button[type=submit]")
    expect(page.locator("#field-password1-error")).to_have_text(
        "This password is too common. This password is entirely numeric."
    )
    shot(page, "08-field-errors")


def test_the_page_speaks_korean_to_a_korean_browser(browser):
    context = browser.new_context(locale="ko-KR")
    page = context.new_page()
    page.goto(WEB_URL + "#/login")
    expect(page.locator("h1")).to_have_text("로그인")
    shot(page, "09-korean-login")
    page.select_option("#language", "en")
    expect(page.locator("h1")).to_have_text("Log in")
    context.close()


def test_devices_lists_the_sessions_and_ends_another(browser):
    email = new_email()
    laptop = browser.new_context(locale="en-US")
    phone = browser.new_context(locale="en-US", user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1")
    laptop_page = laptop.new_page()
    join(laptop_page, email)
    phone_page = phone.new_page()
    log_in(phone_page, email)
    expect(phone_page.locator("#greeting")).to_be_visible()
    phone_page.click("nav a[href='#/sessions']")
    expect(phone_page.locator(".session")).to_have_count(2)
    expect(phone_page.locator(".session.current strong")).to_have_text("Safari on iOS")
    shot(phone_page, "10-devices")
    phone_page.click(".session:not(.current) button")
    expect(phone_page.locator(".session")).to_have_count(1)
    # The laptop's session is over: its next load finds no session.
    laptop_page.reload()
    expect(laptop_page.locator("#field-password")).to_be_visible()
    laptop.close()
    phone.close()


def test_a_page_asked_for_while_logging_out_ends_on_the_login_page(context):
    # Found by these tests: a page whose calls ended after a newer page was asked for used to
    # replace it (here my page, still signed in, drawn over the login page after the logout).
    page = context.new_page()
    join(page, new_email())
    page.click("#logout")
    page.goto(WEB_URL + "#/login")
    expect(page.locator("#field-password")).to_be_visible()
    expect(page.locator("#greeting")).to_have_count(0)
    shot(page, "12-login-after-a-racing-logout")


def test_the_navigation_shows_only_links(context):
    # Found by these tests' screenshots: the signed-out navigation ended with the text "null".
    page = context.new_page()
    page.goto(WEB_URL + "#/login")
    expect(page.locator("#nav")).to_have_text("Log inCreate account")
    shot(page, "13-signed-out-navigation")


def test_a_wrong_old_password_shows_the_apis_message_under_its_field(context):
    page = context.new_page()
    join(page, new_email())
    page.click("nav a[href='#/password']")
    page.fill("#field-old_password", "Not-The-Password!1")
    page.fill("#field-new_password1", "Another-Pw!5521")
    page.fill("#field-new_password2", "Another-Pw!5521")
    page.click("button[type=submit]")
    expect(page.locator("#field-old_password-error")).to_have_text(
        "Your old password was entered incorrectly. Please enter it again."
    )
    expect(page.locator(".field[data-field=old_password]")).to_have_class("field invalid")
    shot(page, "11-wrong-old-password-under-its-field")


def mailed_link(email):
    """The link of the last message the stack mailed to `email` (its outbox, E2E_OUTBOX_DIR), as a
    page of this front end: the stack's links name the default front end's origin."""
    import email as mail
    from email import policy

    outbox = pathlib.Path(os.environ["E2E_OUTBOX_DIR"])
    messages = [mail.message_from_bytes(path.read_bytes(), policy=policy.default) for path in sorted(outbox.glob("*.eml"))]
    ours = [message for message in messages if message["To"] == email]
    assert ours, f"no mail to {email} in {outbox}"
    text = ours[-1].get_body(preferencelist=("plain",)).get_content()
    link = next(line.strip() for line in text.splitlines() if line.startswith("http"))
    return WEB_URL + link[link.index("#/"):]


def test_a_mailed_reset_link_sets_a_new_password_once(context):
    page = context.new_page()
    email = new_email()
    join(page, email)
    page.click("#logout")
    expect(page.locator(".alert-info")).to_have_text("You have been logged out.")
    page.click("a[href='#/forgot']")
    # The login page has an email field too: fill the forgot page's once it is shown.
    expect(page.locator("h1")).to_have_text("Forgot your password?")
    page.fill("#field-email", email)
    page.click("button[type=submit]")
    expect(page.locator("form .alert-success")).to_contain_text("a link is on its way")
    link = mailed_link(email)
    page.goto(link)
    expect(page.locator("h1")).to_have_text("Choose a new password")
    page.fill("#field-new_password1", "Brand-New-Pw!4242")
    page.fill("#field-new_password2", "Brand-New-Pw!4242")
    page.click("button[type=submit]")
    expect(page.locator(".alert-info")).to_have_text("Your new password is set. Log in with it.")
    shot(page, "14-password-reset")
    log_in(page, email, "Brand-New-Pw!4242")
    expect(page.locator("#greeting")).to_have_text(f"반갑습니다, {email}님!")
    page.click("#logout")
    expect(page.locator(".alert-info")).to_have_text("You have been logged out.")
    # The same link again: spent.
    page.goto(link)
    expect(page.locator("h1")).to_have_text("Choose a new password")
    page.fill("#field-new_password1", "Third-Pw!4242")
    page.fill("#field-new_password2", "Third-Pw!4242")
    page.click("button[type=submit]")
    expect(page.locator("form .alert-error")).to_contain_text("does not work any more")


def test_a_mailed_confirmation_link_confirms_the_address_once(context):
    page = context.new_page()
    email = new_email()
    join(page, email)
    page.click("#logout")
    expect(page.locator(".alert-info")).to_have_text("You have been logged out.")
    page.goto(WEB_URL + "#/resend")
    expect(page.locator("h1")).to_have_text("Send the confirmation again")
    page.fill("#field-email", email)
    page.click("button[type=submit]")
    expect(page.locator("form .alert-success")).to_contain_text("a link is on its way")
    link = mailed_link(email)
    # Opening the link confirms nothing (a mail gateway scanning links opens them all): the
    # page asks, and the address is still unconfirmed when the button is pressed in another tab.
    scanner = context.new_page()
    scanner.goto(link)
    expect(scanner.locator("h1")).to_have_text("Confirm your email")
    expect(scanner.locator("button[type=submit]")).to_have_text("Confirm my address")
    scanner.close()
    page.goto(link)
    page.click("button[type=submit]")
    expect(page.locator(".alert-success")).to_have_text("Your email address is confirmed.")
    shot(page, "15-email-confirmed")
    page.goto(WEB_URL + "#/login")
    page.goto(link)
    page.click("button[type=submit]")
    expect(page.locator(".alert-error")).to_contain_text("This link does not work")


def test_recent_activity_lists_what_happened_newest_first_in_either_language(context):
    page = context.new_page()
    email = new_email()
    join(page, email)
    page.click("#logout")
    expect(page.locator(".alert-info")).to_have_text("You have been logged out.")
    log_in(page, email, "Not-The-Password!1")
    expect(page.locator("form .alert-error")).to_have_text("Unable to log in with provided credentials.")
    log_in(page, email)
    expect(page.locator("#greeting")).to_be_visible()
    page.click("nav a[href='#/activity']")
    expect(page.locator("h1")).to_have_text("Recent activity")
    expect(page.locator(".event strong")).to_have_text(["Signed in", "Failed sign-in", "Signed out", "Account created"])
    expect(page.locator(".event-login_failed .badge")).to_have_text("wrong password")
    expect(page.locator("#more-events")).to_be_hidden()
    assert email not in page.locator("#app").inner_text(), "no address among the events"
    shot(page, "16-recent-activity")
    page.select_option("#language", "ko")
    expect(page.locator("h1")).to_have_text("최근 활동")
    expect(page.locator(".event strong").first).to_have_text("로그인")
    shot(page, "17-recent-activity-korean")


def test_a_signed_out_visitor_asking_for_the_activity_page_gets_the_login_page(context):
    page = context.new_page()
    page.goto(WEB_URL + "#/activity")
    expect(page.locator("#field-password")).to_be_visible()
    expect(page.locator(".event")).to_have_count(0)


# --- the admin area (staff only) -----------------------------------------------------------------

# The first admin call of a run may meet a function the stack has not started yet.
FIRST_ADMIN_CALL_MS = 30_000


def create_superuser():
    """A superuser (active staff) made by the operator CLI against the stack's table: its email
    and password. The tests run in the stack's environment (TABLE_NAME, the DynamoDB endpoint)."""
    email = f"staff-{secrets.token_hex(5)}@example.com"
    password = "Adm1n-" + secrets.token_hex(6) + "!Q"
    subprocess.run(
        [str(ROOT / "target" / "debug" / "account-admin"), "create-superuser", email],
        input=password + "\n",
        text=True,
        check=True,
        capture_output=True,
    )
    return email, password


def join_by_api(email):
    """A user joined straight through the API (no browser): faster when a test needs many."""
    request = urllib.request.Request(
        f"{API_URL}/account/join/",
        data=json.dumps({"email": email, "password1": PASSWORD, "password2": PASSWORD}).encode(),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 201, response.status


def test_staff_find_edit_sign_out_deactivate_reset_and_delete_a_user(browser):
    prefix = f"adm{secrets.token_hex(4)}-"
    target = f"{prefix}target@example.com"
    others = [f"{prefix}{number:02d}@example.com" for number in range(11)]
    for email in others:
        join_by_api(email)
    # The user acted on keeps a browser of their own, to meet what the admin does.
    theirs = browser.new_context(locale="en-US")
    their_page = theirs.new_page()
    join(their_page, target)

    staff_email, staff_password = create_superuser()
    admin = browser.new_context(locale="en-US", viewport={"width": 1100, "height": 760})
    page = admin.new_page()
    traffic = Traffic(page)
    log_in(page, staff_email, staff_password)
    expect(page.locator("#greeting")).to_have_text(f"반갑습니다, {staff_email}님!")
    # The Admin link once the page has found out it is staff.
    expect(page.locator("nav a[href='#/admin']")).to_be_visible(timeout=FIRST_ADMIN_CALL_MS)
    page.click("nav a[href='#/admin']")
    expect(page.locator("h1")).to_have_text("Users")
    expect(page.locator("#admin-search")).to_be_visible()

    # A filter: none of them is staff.
    page.fill("#field-q", prefix)
    page.select_option("#field-is_staff", "true")
    page.click("#admin-search")
    expect(page.locator("#admin-none")).to_be_visible()
    expect(page.locator(".admin-user")).to_have_count(0)

    # By the prefix, ten a page, in email order; More follows `next`.
    everyone = sorted(others + [target])
    page.select_option("#field-is_staff", label="Any")
    page.select_option("#field-limit", "10")
    page.click("#admin-search")
    expect(page.locator(".admin-user a")).to_have_text(everyone[:10])
    expect(page.locator("#admin-more")).to_be_visible()
    shot(page, "18-admin-search")
    page.click("#admin-more")
    expect(page.locator(".admin-user a")).to_have_text(everyone)
    expect(page.locator("#admin-more")).to_be_hidden()

    # The user's page: their fields, their session, their events.
    page.click(f".admin-user[data-email='{target}'] a")
    expect(page.locator("h1")).to_have_text("User")
    expect(page.locator("#admin-user-email")).to_have_text(target)
    expect(page.locator(".admin-session")).to_have_count(1)
    expect(page.locator("#admin-events .event-join")).to_have_count(1)

    # Edit the first name: Save asks first, Confirm sends.
    page.fill("#field-first_name", "Renamed")
    page.click("#admin-save")
    expect(page.locator("#admin-save-question")).to_have_text("Save the changes to: First name?")
    page.click("#admin-save-confirm")
    expect(page.locator("section.card > .alert-info")).to_have_text("Saved.")
    expect(page.locator("#admin-user-name")).to_have_text("Renamed")
    expect(page.locator("#field-first_name")).to_have_value("Renamed")
    expect(page.locator("#admin-events .event-admin_update strong")).to_have_text("Changed by an administrator")
    shot(page, "19-admin-user")

    # Sign out everywhere: the button asks, Confirm ends their session.
    page.click("#admin-sign-out")
    expect(page.locator("#admin-sign-out-confirm")).to_be_visible()
    page.click("#admin-sign-out-confirm")
    expect(page.locator("section.card > .alert-info")).to_have_text("Sessions ended: 1.")
    expect(page.locator(".admin-session")).to_have_count(0)
    expect(page.locator("#admin-no-sessions")).to_be_visible()
    their_page.reload()
    expect(their_page.locator("#field-password")).to_be_visible()
    # They can sign in again (a deactivation keeps them out).
    log_in(their_page, target)
    expect(their_page.locator("#greeting")).to_have_text(f"반갑습니다, {target}님!")

    # A password reset, confirmed: the page shows the API's answer.
    page.click("#admin-reset")
    page.click("#admin-reset-confirm")
    expect(page.locator("section.card > .alert-info")).to_have_text("Password reset e-mail has been sent.")

    # Deactivate: their session ends and their password no longer signs them in.
    page.uncheck("#field-is_active")
    page.click("#admin-save")
    expect(page.locator("#admin-save-question")).to_have_text("Save the changes to: Active?")
    page.click("#admin-save-confirm")
    expect(page.locator("section.card > .alert-info")).to_have_text("Saved.")
    expect(page.locator("#admin-user-flags .flag-inactive")).to_have_text("Inactive")
    expect(page.locator("#field-is_active")).not_to_be_checked()
    their_page.reload()
    expect(their_page.locator("#field-password")).to_be_visible()
    log_in(their_page, target)
    expect(their_page.locator("form .alert-error")).to_have_text("Unable to log in with provided credentials.")

    # A reset for an inactive user is refused: the API's reason shows among the actions.
    page.click("#admin-reset")
    page.click("#admin-reset-confirm")
    expect(page.locator("#admin-actions .alert-error")).to_have_text(
        "The user is inactive: reset e-mails go to active users only."
    )

    # The same page in Korean.
    page.select_option("#language", "ko")
    expect(page.locator("h1")).to_have_text("사용자 정보")
    expect(page.locator("#admin-user-flags .flag-inactive")).to_have_text("비활성")
    shot(page, "20-admin-user-korean")
    page.select_option("#language", "en")
    expect(page.locator("h1")).to_have_text("User")

    # Delete, confirmed: back on the list, and no search finds them.
    page.click("#admin-delete")
    expect(page.locator("#admin-delete-question")).to_contain_text("cannot be undone")
    page.click("#admin-delete-confirm")
    expect(page).to_have_url(re.compile(r"#/admin$"))
    expect(page.locator("section.card > .alert-info")).to_have_text(f"{target} has been deleted.")
    page.fill("#field-q", target)
    page.click("#admin-search")
    expect(page.locator("#admin-none")).to_be_visible()
    expect(page.locator(".admin-user")).to_have_count(0)
    assert traffic.errors == []
    admin.close()
    theirs.close()


def test_a_user_who_is_not_staff_gets_the_not_allowed_page_and_no_admin_link(context):
    page = context.new_page()
    traffic = Traffic(page)
    join(page, new_email())
    page.goto(WEB_URL + "#/admin")
    expect(page.locator("h1")).to_have_text("Not allowed", timeout=FIRST_ADMIN_CALL_MS)
    expect(page.locator("#admin-denied")).to_have_text("You do not have permission to perform this action.")
    expect(page.locator("#admin-search")).to_have_count(0)
    # The page has asked whether this user is staff by now: no link.
    expect(page.locator("nav a[href='#/admin']")).to_have_count(0)
    expect(page.locator("#nav")).to_have_text("My pageProfileDevicesConnected accountsActivityPasswordLog out")
    shot(page, "21-admin-not-allowed")
    page.goto(WEB_URL + "#/admin/user/1")
    expect(page.locator("#admin-denied")).to_be_visible()
    expect(page.locator("#admin-user-form")).to_have_count(0)
    assert traffic.errors == []


def test_a_signed_out_visitor_asking_for_the_admin_area_gets_the_login_page(context):
    page = context.new_page()
    page.goto(WEB_URL + "#/admin/user/1")
    expect(page.locator("#field-password")).to_be_visible()
    expect(page.locator("#admin-denied")).to_have_count(0)
    expect(page.locator("#admin-user-form")).to_have_count(0)


# --- social login (web/js/social.js) against the stack's local provider (tools/oidc) --------------

# The local provider (tools/browser-test.sh gives its Google, Kakao and Naver to the page).
SOCIAL_URL = os.environ.get("E2E_SOCIAL_PROVIDER_URL", "").rstrip("/")
# A return from a provider meets social login's function and the provider's token endpoint.
SOCIAL_RETURN_MS = 30_000
STATE_REFUSED = "This sign-in was not started on this page, or has already been used. Please start again."


def stay_on_loopback(context):
    """The provider's development pages @import a web font: never fetched, so nothing leaves the
    machine and nothing waits on it."""
    context.route(re.compile(r"^https://fonts\.(googleapis|gstatic)\.com/"), lambda route: route.abort())


def sign_in_at_the_provider(page, provider, login):
    """The local provider's own pages (oidc-provider's development interactions): its login form
    (any login, any password), then its consent page's Continue."""
    page.wait_for_url(re.compile(re.escape(f"{SOCIAL_URL}/{provider}/interaction/")))
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", "any-password")
    page.click("button[type=submit]")
    page.click("button:has-text('Continue')")


def s256(verifier):
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def social_calls(traffic, provider, route=""):
    """The page's calls to a social route, as (the JSON body, the page's address when it was sent)."""
    return [
        (json.loads(request.post_data), address)
        for request, address in traffic.social
        if request.url.split("/account/", 1)[-1] == f"social/{provider}/{route}"
    ]


def watch_social(page, traffic):
    # The address of the page at each social call: request.frame.url follows history.replaceState.
    traffic.social = []
    page.on(
        "request",
        lambda request: "/account/social/" in request.url
        and request.method == "POST"
        and traffic.social.append((request, request.frame.url)),
    )


def control(route, body):
    request = urllib.request.Request(
        f"{SOCIAL_URL}/control/{route}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_continue_with_google_signs_up_through_the_providers_pages(context):
    stay_on_loopback(context)
    page = context.new_page()
    traffic = Traffic(page)
    watch_social(page, traffic)
    asked = []
    page.on("request", lambda request: request.url.startswith(f"{SOCIAL_URL}/google/auth?") and asked.append(request.url))
    email = f"google-{secrets.token_hex(5)}@example.com"
    page.goto(WEB_URL + "#/login")
    expect(page.locator("#social-login button")).to_have_text(["Continue with Google", "Continue with Kakao", "Continue with Naver"])
    shot(page, "22-login-with-providers")
    page.click("#social-google")
    sign_in_at_the_provider(page, "google", email)
    expect(page.locator("#greeting")).to_have_text(f"반갑습니다, {email}님!", timeout=SOCIAL_RETURN_MS)
    expect(page.locator("#app")).to_contain_text(f"You are signed in as {email}.")
    shot(page, "23-signed-in-with-google")

    # What the page asked the provider for, and what it then sent the API: the code once, with
    # the verifier of the challenge, the nonce and state it made, the redirect URI it used; the
    # code already gone from the address bar when it did.
    [(body, address)] = social_calls(traffic, "google")
    query = parse_qs(urlsplit(asked[0]).query)
    assert query["response_type"] == ["code"] and query["client_id"] == ["local-google-client"]
    assert query["scope"] == ["openid email profile"]
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"] == [s256(body["code_verifier"])]
    assert 43 <= len(body["code_verifier"]) <= 128
    assert query["nonce"] == [body["nonce"]] and query["state"] == [body["state"]] and len(body["state"]) >= 43
    assert query["redirect_uri"] == [WEB_URL] and body["redirect_uri"] == WEB_URL
    assert "code=" not in address and "code=" not in page.url
    # The trip's entry is spent, and no token is stored.
    stored = page.evaluate("JSON.stringify({...sessionStorage, ...localStorage})")
    assert "account.social." not in stored and "eyJ" not in stored

    # Connected accounts lists the Google account; disconnecting it, the one way this user signs
    # in, is refused in the API's words.
    page.click("nav a[href='#/connections']")
    expect(page.locator(".social-account strong")).to_have_text(["Google"])
    expect(page.locator("#social-connect button")).to_have_text(["Connect Kakao", "Connect Naver"])
    page.click(".social-account[data-provider=google] button")
    expect(page.locator("#connections-box .alert-error")).to_have_text("Your account has no password set up.")
    expect(page.locator(".social-account")).to_have_count(1)
    shot(page, "24-connected-accounts-last-way-in")

    # The same return again (its address from the history, say): refused by the page, unsent.
    page.goto(f"{WEB_URL}?code={quote(body['code'])}&state={quote(body['state'])}")
    expect(page.locator(".notice.alert-error")).to_have_text(STATE_REFUSED)
    assert len(social_calls(traffic, "google")) == 1
    assert traffic.errors == []


def test_a_password_user_connects_kakao_through_its_pages_and_disconnects_it(context):
    stay_on_loopback(context)
    page = context.new_page()
    traffic = Traffic(page)
    watch_social(page, traffic)
    join(page, new_email())
    page.click("nav a[href='#/connections']")
    expect(page.locator("h1")).to_have_text("Connected accounts")
    expect(page.locator("#connections-none")).to_have_text("No account is connected yet.")
    expect(page.locator("#social-connect button")).to_have_text(["Connect Google", "Connect Kakao", "Connect Naver"])
    page.click("#connect-kakao")
    # Another address than the user's: connecting links whatever the provider account's address.
    sign_in_at_the_provider(page, "kakao", f"kakao-{secrets.token_hex(5)}")
    expect(page.locator(".notice")).to_have_text("Kakao is connected: you can sign in with it from now on.", timeout=SOCIAL_RETURN_MS)
    expect(page.locator(".social-account strong")).to_have_text(["Kakao"])
    expect(page.locator("#social-connect button")).to_have_text(["Connect Google", "Connect Naver"])
    shot(page, "25-kakao-connected")
    [(body, address)] = social_calls(traffic, "kakao", "connect/")
    assert body["code_verifier"] and body["nonce"] and "code=" not in address
    page.click(".social-account[data-provider=kakao] button")
    expect(page.locator(".notice")).to_have_text("Kakao is disconnected.")
    expect(page.locator("#connections-none")).to_be_visible()
    expect(page.locator(".social-account")).to_have_count(0)
    assert traffic.errors == []


def test_a_return_with_a_state_this_tab_did_not_make_signs_nobody_in(context):
    page = context.new_page()
    traffic = Traffic(page)
    forged = f"forged-{secrets.token_hex(8)}"
    page.goto(f"{WEB_URL}?code={forged}&state={secrets.token_urlsafe(32)}")
    expect(page.locator(".notice.alert-error")).to_have_text(STATE_REFUSED)
    expect(page.locator("#field-password")).to_be_visible()
    shot(page, "26-forged-state-refused")
    assert "code=" not in page.url
    assert not any("/account/social/" in request.url for request in traffic.requests)
    assert not any(forged in request.url or forged in (request.post_data or "") for request in traffic.requests)
    assert {cookie["name"] for cookie in context.cookies(API_URL)} == set()
    assert traffic.errors == []


def test_cancelling_at_the_provider_says_so_and_signs_nobody_in(context):
    stay_on_loopback(context)
    page = context.new_page()
    traffic = Traffic(page)
    page.goto(WEB_URL + "#/login")
    page.click("#social-kakao")
    page.wait_for_url(re.compile(re.escape(f"{SOCIAL_URL}/kakao/interaction/")))
    # The provider sends the person back with ?error=access_denied&state=….
    page.click("text=[ Cancel ]")
    expect(page.locator(".notice.alert-error")).to_have_text("You cancelled the sign-in with Kakao.")
    expect(page.locator("#field-password")).to_be_visible()
    assert "error=" not in page.url and "state=" not in page.url
    assert not any("/account/social/" in request.url for request in traffic.requests)
    assert traffic.errors == []


def test_naver_asks_only_for_what_it_supports_and_its_code_signs_in(context):
    # The local Naver is a token and profile API with no pages: the trip to it is stopped at its
    # authorization URL, and its code comes from the provider's control route.
    page = context.new_page()
    traffic = Traffic(page)
    watch_social(page, traffic)
    asked = []

    def naver(route):
        asked.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<p>Naver</p>")

    page.route(re.compile(re.escape(f"{SOCIAL_URL}/naver/oauth2.0/authorize") + r"\?"), naver)
    page.goto(WEB_URL + "#/login")
    page.click("#social-naver")
    page.wait_for_url(re.compile(re.escape(f"{SOCIAL_URL}/naver/")))
    query = parse_qs(urlsplit(asked[0]).query)
    assert set(query) == {"response_type", "client_id", "redirect_uri", "state"}
    assert query["client_id"] == ["local-naver-client"] and query["redirect_uri"] == [WEB_URL]
    email = f"naver-{secrets.token_hex(5)}@example.com"
    state = query["state"][0]
    code = control("naver-code", {"login": email, "state": state})["code"]
    page.goto(f"{WEB_URL}?code={quote(code)}&state={quote(state)}")
    expect(page.locator("#greeting")).to_have_text(f"반갑습니다, {email}님!", timeout=SOCIAL_RETURN_MS)
    [(body, _)] = social_calls(traffic, "naver")
    assert set(body) == {"code", "redirect_uri", "state"} and body["state"] == state
    assert traffic.errors == []


def test_the_provider_buttons_speak_korean(browser):
    context = browser.new_context(locale="ko-KR")
    page = context.new_page()
    page.goto(WEB_URL + "#/login")
    expect(page.locator("#social-login button")).to_have_text(["Google로 계속하기", "카카오로 계속하기", "네이버로 계속하기"])
    shot(page, "27-korean-provider-buttons")
    context.close()
