"""The website in a real browser: people sign up, take faucet coins, trade and see it live."""

import secrets
import time
from datetime import datetime, timedelta, timezone

import pyotp
from playwright.sync_api import expect

from tests.site.conftest import screenshot

PASSWORD = "a long enough password"


def sign_up(page) -> str:
    email = f"web-{secrets.token_hex(4)}@example.com"
    page.goto("/#/signup")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password (at least 10 characters)").fill(PASSWORD)
    page.get_by_role("button", name="Create my account").click()
    expect(page.locator("#status")).to_contain_text(f"Signed in as {email}")
    return email


def faucet(page, currency: str, presses: int = 1) -> None:
    page.goto("/#/wallet")
    row = page.locator(f'#balances tr[data-currency="{currency}"]')
    for press in range(1, presses + 1):
        row.get_by_role("button").click()
        expect(row.locator("td").nth(1)).not_to_have_text("0")
    page.wait_for_timeout(200)


def balance(page, currency: str):
    cells = page.locator(f'#market-balances tr[data-currency="{currency}"] td')
    return cells.nth(1), cells.nth(2)


def place(page, market: str, side: str, type_: str, quantity: str, price: str = "",
          time_in_force: str = "", expire_at: str = "") -> None:
    form = page.locator('form[data-form="order"]')
    form.locator('[name="side"]').select_option(side)
    form.locator('[name="type"]').select_option(type_)
    form.locator('[name="quantity"]').fill(quantity)
    if price:
        form.locator('[name="price"]').fill(price)
    if time_in_force:
        form.locator('[name="time_in_force"]').select_option(time_in_force)
    if expire_at:
        form.locator('[name="expire_at"]').fill(expire_at)
    form.get_by_role("button", name="Place order").click()


def test_two_people_trade_and_both_see_it_without_reloading(new_page, market):
    base, quote = market.split("-")
    seller, buyer = new_page(), new_page()
    sign_up(seller)
    sign_up(buyer)
    faucet(seller, base)                          # 1 base
    faucet(buyer, quote)                          # 1.00 quote
    screenshot(buyer, "wallet")
    for page in (seller, buyer):
        page.goto(f"/#/trade/{market}")
        expect(page.locator("#book")).to_contain_text("The book is empty.")
    place(seller, market, "sell", "limit", "0.5", "1.00")
    expect(seller.locator("#open-orders tbody tr")).to_have_count(1)
    expect(buyer.locator("#book tbody tr.ask")).to_have_count(1)       # live, no reload
    expect(balance(seller, base)[0]).to_have_text("0.50000000")
    expect(balance(seller, base)[1]).to_have_text("0.50000000")

    place(buyer, market, "buy", "market", "0.5")
    # Both see the fill, the balances, the trade and the chart move, without reloading.
    for page in (seller, buyer):
        expect(page.locator("#fills tbody tr")).to_have_count(1)
        expect(page.locator("#trades tbody tr").first).to_contain_text("1.00")
        expect(page.locator(".chart")).to_have_attribute("data-last-close", "1.00")
        expect(page.locator("#book")).to_contain_text("The book is empty.")
    # Seller: 0.5 base out; 0.50 quote in, less the maker fee (10 bps of 0.50, rounded up).
    expect(balance(seller, base)[0]).to_have_text("0.50000000")
    expect(balance(seller, base)[1]).to_have_text("0.00000000")
    expect(balance(seller, quote)[0]).to_have_text("0.49")
    # Buyer: 0.5 base in; 0.50 quote out, plus the taker fee (20 bps of 0.50, rounded up).
    expect(balance(buyer, quote)[0]).to_have_text("0.49")
    expect(balance(buyer, quote)[1]).to_have_text("0.00")
    expect(balance(buyer, base)[0]).to_have_text("0.50000000")
    expect(seller.locator("#order-history tbody tr").first).to_contain_text("filled")
    screenshot(seller, "trade")
    buyer.goto("/#/markets")
    expect(buyer.locator(f"tr[data-market=\"{market}\"]")).to_contain_text("1.00")
    screenshot(buyer, "markets")


def test_a_take_profit_placed_on_the_website_waits_then_triggers_and_fills(new_page, market):
    base, quote = market.split("-")
    seller, buyer = new_page(), new_page()
    sign_up(seller)
    sign_up(buyer)
    faucet(seller, base)                          # 1 base
    faucet(buyer, quote)                          # 1.00 quote
    for page in (seller, buyer):
        page.goto(f"/#/trade/{market}")
    place(seller, market, "sell", "limit", "0.5", "1.00")
    expect(buyer.locator("#book tbody tr.ask")).to_have_count(1)
    place(buyer, market, "buy", "market", "0.5")  # the last price: 1.00
    expect(seller.locator("#fills tbody tr")).to_have_count(1)
    form = seller.locator('form[data-form="order"]')
    form.locator('[name="type"]').select_option("take_profit_market")
    expect(form.locator('[name="price"]')).to_be_hidden()
    form.locator('[name="stop_price"]').fill("1.10")
    place(seller, market, "sell", "take_profit_market", "0.2")
    take_profit = seller.locator("#open-orders tbody tr[data-order]")
    expect(take_profit).to_contain_text("take profit 1.10")
    expect(take_profit).to_contain_text("untriggered")
    expect(balance(seller, base)[1]).to_have_text("0.20000000")
    place(buyer, market, "buy", "limit", "0.2", "1.05")       # what the take-profit sells to
    expect(buyer.locator("#open-orders tbody tr[data-order]")).to_have_count(1)
    place(seller, market, "sell", "limit", "0.1", "1.10")
    expect(seller.locator("#open-orders tbody tr[data-order]")).to_have_count(2)
    place(buyer, market, "buy", "limit", "0.1", "1.10")       # trades at 1.10: triggered
    expect(seller.locator("#open-orders tbody tr[data-order]")).to_have_count(0)
    expect(seller.locator("#order-history tbody tr").first).to_contain_text("filled")
    # Seller: 0.49 + (0.11 - 0.01 maker fee) + (0.2 x 1.05 = 0.21 - 0.01 taker fee).
    expect(balance(seller, quote)[0]).to_have_text("0.79")
    expect(balance(seller, base)[0]).to_have_text("0.20000000")
    expect(balance(seller, base)[1]).to_have_text("0.00000000")
    # Buyer: 0.49 - (0.11 + 0.01 taker fee) - (0.21 + 0.01 maker fee).
    expect(balance(buyer, quote)[0]).to_have_text("0.15")
    expect(balance(buyer, quote)[1]).to_have_text("0.00")
    expect(balance(buyer, base)[0]).to_have_text("0.80000000")


def test_a_good_till_date_order_expires_in_the_open_orders(new_page, market):
    base, quote = market.split("-")
    page = new_page()
    sign_up(page)
    faucet(page, quote)
    page.goto(f"/#/trade/{market}")
    expires = datetime.now(timezone.utc) + timedelta(seconds=8)
    place(page, market, "buy", "limit", "0.1", "0.50", time_in_force="gtd",
          expire_at=expires.strftime("%Y-%m-%dT%H:%M:%S"))
    expect(page.locator("#open-orders tbody tr[data-order]")).to_have_count(1)
    expect(balance(page, quote)[1]).to_have_text("0.06")     # 0.05 and the taker fee's cap
    expect(page.locator("#open-orders tbody tr[data-order]")).to_have_count(0, timeout=20_000)
    expect(page.locator("#order-history tbody tr").first).to_contain_text("expired")
    expect(balance(page, quote)[0]).to_have_text("1.00")
    expect(balance(page, quote)[1]).to_have_text("0.00")


def test_a_bad_order_shows_its_error_next_to_the_field(new_page, market):
    page = new_page()
    sign_up(page)
    page.goto(f"/#/trade/{market}")
    place(page, market, "sell", "limit", "0.0005", "1.00")      # below the 0.001 lot
    quantity = page.locator('form[data-form="order"] [name="quantity"]')
    expect(quantity).to_have_attribute("aria-invalid", "true")
    error = page.locator(f"#{quantity.get_attribute('id')}-error")
    expect(error).to_contain_text("0.001")
    expect(page.locator("#open-orders tbody tr[data-order]")).to_have_count(0)


def test_a_key_is_created_shown_once_and_revoked(new_page, exchange):
    page = new_page()
    sign_up(page)
    page.goto("/#/keys")
    page.get_by_label("Label").fill("my bot")
    page.get_by_role("checkbox", name="trade").check()
    page.get_by_role("button", name="Create key").click()
    key_id = page.locator("#new-key-id").inner_text()
    assert len(page.locator("#new-key-secret").inner_text()) >= 32
    row = page.locator(f'#api-keys tr[data-key="{key_id}"]')
    expect(row).to_contain_text("read, trade")
    screenshot(page, "keys")
    row.get_by_role("button", name="Revoke key my bot").click()
    expect(row).to_contain_text("revoked")
    page.reload()
    expect(page.locator("#new-key-secret")).to_have_count(0)            # never shown again


def test_the_deposit_address_comes_with_a_qr_code_and_the_phone_layout_works(
        new_page, market):
    base, _ = market.split("-")
    page = new_page(390, 844)
    sign_up(page)
    page.goto("/#/wallet")
    page.locator('form[data-form="deposit"] [name="currency"]').select_option(base)
    page.get_by_role("button", name="Show my deposit address").click()
    address = page.locator("#deposit-address code.address")
    expect(address).to_contain_text(f"sim{base.lower()}1")
    qr = page.get_by_role("img", name=f"QR code of the {base} deposit address")
    expect(qr).to_be_visible()
    assert qr.evaluate("image => image.naturalWidth") > 0
    screenshot(page, "wallet-phone")
    page.goto(f"/#/trade/{market}")
    expect(page.locator('form[data-form="order"]')).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 400, f"the trade page is {width}px wide on a 390px screen"
    screenshot(page, "trade-phone")


def test_the_second_factor_is_set_up_with_a_qr_code_and_asked_at_log_in(new_page):
    page = new_page()
    email = sign_up(page)
    page.goto("/#/security")
    page.get_by_role("button", name="Set up a second factor").click()
    expect(page.get_by_role("img", name="QR code for your authenticator app")).to_be_visible()
    secret = page.locator("#totp-secret").inner_text()
    page.get_by_label("Code").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Turn it on").click()
    expect(page.locator("#recovery-codes li")).to_have_count(10)
    screenshot(page, "security")
    page.get_by_role("button", name="Log out").click()
    page.get_by_role("link", name="Log in").click()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    totp = page.get_by_label("Second-factor code (if enabled)")
    expect(totp).to_have_attribute("aria-invalid", "true")          # asked for, by name
    totp.fill(pyotp.TOTP(secret).at(time.time() + 30))       # the next step: unused yet
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#status")).to_contain_text(f"Signed in as {email}")
