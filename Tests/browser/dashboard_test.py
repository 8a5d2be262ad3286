#!/usr/bin/env python3
"""The dashboard in a real browser (CONTRACT.md section 8): headless Chromium driven by
Selenium against `admit serve --dev`. Run by scripts/browser-test.sh.

Usage: dashboard_test.py BASE_URL ADMIN_CREDENTIAL [SCREENSHOT_DIR]
Exits 0 when every check passes; prints each failed check and exits 1 otherwise.
"""
import asyncio
import json
import os
import sys
import time
import urllib.error
import urllib.request

import jwt
import websockets
from common import browser, check, failures
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

BASE, CREDENTIAL = sys.argv[1], sys.argv[2]
SHOTS = sys.argv[3] if len(sys.argv) > 3 else None


def http(method, path, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(BASE + path, data=data, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request) as response:
            text = response.read()
            return response.status, json.loads(text) if text else None
    except urllib.error.HTTPError as error:
        text = error.read()
        return error.code, json.loads(text) if text else None



driver = browser()
wait = WebDriverWait(driver, 10)
console_errors = []


def console(page):
    """Console errors since the last call, recorded against `page`."""
    for entry in driver.get_log("browser"):
        if entry["level"] == "SEVERE":
            console_errors.append(f"{page}: {entry['message']}")


def shot(name):
    if SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        driver.save_screenshot(os.path.join(SHOTS, f"{name}.png"))


def by_label(text):
    """The control a <label> with exactly this text names."""
    label = wait.until(EC.presence_of_element_located((By.XPATH, f"//label[normalize-space(.)='{text}']")))
    target = label.get_attribute("for")
    return driver.find_element(By.ID, target) if target else label.find_element(By.XPATH, ".//input|.//select|.//textarea")


def button(text):
    return wait.until(EC.element_to_be_clickable((By.XPATH, f"//button[normalize-space(.)='{text}']")))


def text_of(selector):
    return driver.find_element(By.CSS_SELECTOR, selector).text


try:
    # Signed out: every dashboard page shows the sign-in, without a failing request.
    for path in ["/dashboard/", "/dashboard/rooms", "/dashboard/settings"]:
        driver.get(BASE + path)
        wait.until(EC.presence_of_element_located((By.ID, "credential")))
    check(driver.find_element(By.ID, "nav").get_attribute("hidden") is not None, "signed out: the sign-in form, no navigation")
    driver.get(BASE + "/dashboard")
    check(driver.current_url.endswith("/dashboard/"), "/dashboard redirects to /dashboard/")
    shot("sign-in")
    console("sign-in page")

    # Wrong, then right.
    by_label("Admin credential").send_keys("not-the-credential")
    button("Sign In").click()
    wait.until(lambda d: d.find_element(By.ID, "signin-message").text)
    check("not the admin credential" in text_of("#signin-message"), "a wrong credential: a message on the page")
    check(driver.get_cookie("admit_session") is None, "a wrong credential sets no cookie")
    driver.get_log("browser")  # the 401 of a wrong credential is expected, not a console error of normal use
    by_label("Admin credential").send_keys(CREDENTIAL)
    button("Sign In").click()
    nav = wait.until(EC.visibility_of_element_located((By.ID, "nav")))
    links = [link.text for link in nav.find_elements(By.TAG_NAME, "a")]
    check(links == ["API Keys", "Generate Token", "API Settings", "Rooms", "Jobs", "Sign Out"], f"navigation links: {links}")
    cookie = driver.get_cookie("admit_session") or {}
    check(cookie.get("httpOnly") is True and cookie.get("sameSite") == "Strict" and cookie.get("path") == "/",
          f"the session cookie is HttpOnly, SameSite=Strict, Path=/ ({cookie.get('httpOnly')}, {cookie.get('sameSite')})")
    stored = driver.execute_script("return JSON.stringify(localStorage) + JSON.stringify(sessionStorage) + document.cookie")
    check(CREDENTIAL not in stored, "the admin credential is kept nowhere in the browser")

    # API Keys: create, the secret shown once.
    wait.until(EC.presence_of_element_located((By.ID, "key-name")))
    by_label("Name").send_keys("browser-test")
    button("Create").click()
    secret_area = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "textarea[id^='secret-']")))
    secret = secret_area.get_attribute("value")
    api_key = secret_area.get_attribute("id")[len("secret-"):]
    check(len(secret) >= 32 and len(api_key) > 10, "a created key's secret is shown")
    check(len(driver.find_elements(By.XPATH, "//button[normalize-space(.)='Copy']")) == 1, "with a Copy button")
    shot("api-keys")
    driver.refresh()
    wait.until(EC.presence_of_element_located((By.XPATH, f"//code[text()='{api_key}']")))
    check(secret not in driver.page_source, "the secret is shown once (gone after a reload)")
    row = driver.find_element(By.XPATH, f"//tr[td/code[text()='{api_key}']]")
    check("browser-test" in row.text and "active" in row.text, "the key is listed with its name and state")
    console("API Keys")

    # Generate Token: ask_join cannot go with allow_join; a token PyJWT verifies with the secret.
    driver.find_element(By.LINK_TEXT, "Generate Token").click()
    Select(by_label("API Key")).select_by_value(api_key)
    allow_join = driver.find_element(By.ID, "perm-allow_join")
    ask_join = driver.find_element(By.ID, "perm-ask_join")
    check(allow_join.is_selected() and not ask_join.is_enabled(), "with allow_join chosen, ask_join is disabled")
    allow_join.click()
    ask_join.click()
    check(not allow_join.is_enabled() and not driver.find_element(By.ID, "perm-allow_mod").is_enabled(),
          "with ask_join chosen, allow_join and allow_mod are disabled")
    ask_join.click()
    allow_join.click()
    expires = by_label("Expires In")
    expires.clear()
    expires.send_keys("90m")
    by_label("Room ID").send_keys("standup")
    button("Generate").click()
    token = wait.until(EC.presence_of_element_located((By.ID, "token-output"))).get_attribute("value")
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"])
        check(claims["apikey"] == api_key and claims["permissions"] == ["allow_join"] and claims["roomId"] == "standup"
              and 5390 <= claims["exp"] - claims["iat"] <= 5410, "the token verifies with PyJWT and carries the form's claims")
    except jwt.PyJWTError as error:
        check(False, f"PyJWT refused the token: {error}")
    first = text_of("#expires-countdown")
    time.sleep(1.2)
    check(first != text_of("#expires-countdown") and "1 h 29 min" in text_of("#expires-countdown"), f"a live expires-in countdown ({first})")
    check('"HS256"' in text_of("#token-header") and api_key in text_of("#token-claims"), "the decoded header and claims")
    shot("generate-token")
    console("Generate Token")

    # A room of this key, to see settings in its effective configuration.
    status, room = http("POST", "/v2/rooms", {"customRoomId": "browser-room"}, {"Authorization": jwt.encode(
        {"apikey": api_key, "permissions": ["allow_join", "allow_mod"], "iat": int(time.time()), "exp": int(time.time()) + 600},
        secret, algorithm="HS256")})
    room_id = room["roomId"]

    # API Settings: Max Send Bitrate to HD; a bad whitelist domain gets an error beside its field.
    driver.find_element(By.LINK_TEXT, "API Settings").click()
    Select(by_label("API Key")).select_by_value(api_key)
    wait.until(EC.presence_of_element_located((By.ID, "settings-form")))
    legends = [legend.text for legend in driver.find_elements(By.TAG_NAME, "legend")]
    for section in ["Max Send Bitrate", "Recording", "HLS", "Services", "Transcription"]:
        check(section in legends, f"the settings page has the section {section}")
    for label in ["Auto", "SD", "HD", "Full HD"]:
        check(len(driver.find_elements(By.XPATH, f"//fieldset[@id='max-send-bitrate']//label[normalize-space(.)='{label}']")) == 1,
              f"Max Send Bitrate offers {label}")
    whitelist = by_label("Whitelist Domains")
    whitelist.send_keys("https://good.example.com\nnot a domain")
    driver.find_element(By.ID, "bitrate-hd").click()
    button("Save Changes").click()
    wait.until(lambda d: d.find_element(By.ID, "whitelist-error").text)
    described = whitelist.get_attribute("aria-describedby").split()
    message = " ".join(driver.find_element(By.ID, name).text for name in described)
    check("whitelistDomains" in message and whitelist.get_attribute("aria-invalid") == "true",
          f"a bad whitelist domain: an error beside the field, named by aria-describedby ({message})")
    shot("api-settings-error")
    status, saved = http("GET", f"/admin/v1/api-keys/{api_key}/settings", headers={"Authorization": f"Bearer {CREDENTIAL}"})
    check(saved.get("maxSendBitrate") is None, "a refused save changes nothing")
    whitelist.clear()
    whitelist.send_keys("https://good.example.com")
    button("Save Changes").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "settings-status"), "Saved"))
    check(driver.find_element(By.ID, "bitrate-hd").is_selected(), "saved: HD is chosen")
    shot("api-settings")
    console("API Settings")

    # Rooms: the effective configuration with its sources; the lobby, live, with Admit.
    driver.find_element(By.LINK_TEXT, "Rooms").click()
    card = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, f"section[data-room='{room_id}']")))
    card.find_element(By.TAG_NAME, "summary").click()
    row = wait.until(lambda d: d.find_element(By.XPATH, f"//section[@data-room='{room_id}']//table[@class='config']//tr[td/code[text()='maxSendBitrate']]"))
    check('"hd"' in row.text and "dashboard" in row.text, f"the effective configuration shows maxSendBitrate hd from the dashboard ({row.text})")

    async def lobby():
        now = int(time.time())
        host_token = jwt.encode({"apikey": api_key, "permissions": ["allow_join", "allow_mod"], "iat": now, "exp": now + 600}, secret, algorithm="HS256")
        guest_token = jwt.encode({"apikey": api_key, "permissions": ["ask_join"], "iat": now, "exp": now + 600}, secret, algorithm="HS256")
        ws = BASE.replace("http", "ws", 1)
        async with websockets.connect(f"{ws}/rtc?roomId={room_id}&participantId=host&name=Host&token={host_token}") as host:
            await host.recv()  # meeting-joined
            async with websockets.connect(f"{ws}/rtc?roomId={room_id}&participantId=guest-1&name=Guest+One&token={guest_token}") as guest:
                began = time.monotonic()
                try:
                    seen = await asyncio.to_thread(lambda: WebDriverWait(driver, 5, poll_frequency=0.05).until(
                        lambda d: d.find_elements(By.XPATH, f"//section[@data-room='{room_id}']//li[@data-participant='guest-1']")))
                except TimeoutException:
                    seen = []
                took = time.monotonic() - began
                check(bool(seen) and took < 2.0, f"the waiting guest appears within 2 s, without a reload ({took:.2f} s)")
                if not seen:
                    return
                item = seen[0]
                check("Guest One" in item.text, "by name and participant id")
                shot("rooms")
                await asyncio.to_thread(lambda: item.find_element(By.XPATH, ".//button[normalize-space(.)='Admit']").click())
                events = []
                while True:
                    message = json.loads(await asyncio.wait_for(guest.recv(), 5))
                    events.append(message.get("event"))
                    if message.get("event") == "meeting-joined":
                        break
                check("entry-responded" in events, "Admit lets the guest in (entry-responded, meeting-joined)")
                try:
                    await asyncio.to_thread(lambda: WebDriverWait(driver, 5).until(
                        lambda d: d.find_element(By.XPATH, f"//section[@data-room='{room_id}']//td/code[text()='guest-1']")))
                    listed = True
                except TimeoutException:
                    listed = False
                check(listed, "the guest is listed among the participants")

    asyncio.run(lobby())
    console("Rooms")

    # Jobs: the page lists each kind.
    driver.find_element(By.LINK_TEXT, "Jobs").click()
    Select(by_label("API Key")).select_by_value(api_key)
    wait.until(EC.presence_of_element_located((By.XPATH, "//h2[text()='Recordings']")))
    headings = [h.text for h in driver.find_elements(By.TAG_NAME, "h2")]
    check(headings[:4] == ["Recordings", "HLS", "Livestreams", "Transcriptions"], f"the jobs page lists each kind ({headings})")
    shot("jobs")
    console("Jobs")

    # At a phone's width the pages still work.
    driver.set_window_size(390, 844)
    driver.find_element(By.LINK_TEXT, "API Keys").click()
    wait.until(EC.presence_of_element_located((By.ID, "key-name")))
    width = driver.execute_script("return document.documentElement.scrollWidth")
    check(width <= 400, f"at 390 px wide nothing overflows the page ({width} px)")
    shot("api-keys-phone")
    driver.set_window_size(1280, 900)

    # Sign Out ends the session on the server.
    session_cookie = driver.get_cookie("admit_session")["value"]
    driver.find_element(By.LINK_TEXT, "Sign Out").click()
    wait.until(EC.presence_of_element_located((By.ID, "credential")))
    request = urllib.request.Request(BASE + "/admin/v1/api-keys", headers={"Cookie": f"admit_session={session_cookie}"})
    try:
        urllib.request.urlopen(request)
        check(False, "the signed-out cookie still works")
    except urllib.error.HTTPError as error:
        check(error.code == 401, f"after Sign Out the old cookie gets 401 ({error.code})")
    console("sign out")

    # The meeting page without an SFU: a Token field, filled in dev mode (the dev key's token,
    # so a room of the dev key); says media is off.
    with urllib.request.urlopen(BASE + "/get-token") as response:
        dev_token = json.loads(response.read())["token"]
    status, dev_room = http("POST", "/v2/rooms", {}, {"Authorization": dev_token})
    driver.get(f"{BASE}/meet/{dev_room['roomId']}")
    token_field = by_label("Token")
    wait.until(lambda d: token_field.get_attribute("value"))
    check(token_field.get_attribute("value").count(".") == 2, "the meeting page fills its token from /get-token in dev mode")
    by_label("Name").send_keys("Browser")
    button("Join").click()
    wait.until(EC.visibility_of_element_located((By.ID, "meeting")))
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "figure.tile"))
    check("no SFU" in text_of("#status"), "without an SFU the page says so")
    captions = [f.text for f in driver.find_elements(By.CSS_SELECTOR, "figure.tile figcaption")]
    check(any("Browser (you)" in c for c in captions), f"and shows the participants ({captions})")
    shot("meeting-no-sfu")
    console("meeting page")

    # The meeting page's lobby: an ask_join token waits, and is let in from outside.
    status, asked = http("POST", f"/admin/v1/api-keys/{dev_room['userId']}/tokens", {"permissions": ["ask_join"], "expiresIn": 600},
                         {"Authorization": f"Bearer {CREDENTIAL}"})
    driver.get(f"{BASE}/meet/{dev_room['roomId']}")
    field = by_label("Token")
    wait.until(lambda d: field.get_attribute("value"))
    field.clear()
    field.send_keys(asked["token"])
    by_label("Participant ID").send_keys("waiting-guest")
    button("Join").click()
    try:
        wait.until(EC.text_to_be_present_in_element((By.ID, "status"), "Waiting for a host"))
        waited = True
    except TimeoutException:
        waited = False
    check(waited, "an ask_join participant sees the lobby wait")
    check(not driver.find_element(By.ID, "join").is_enabled(), "Join is disabled while joining")
    status, _ = http("POST", f"/admin/v1/rooms/{dev_room['roomId']}/lobby", {"participantId": "waiting-guest", "allow": True},
                     {"Authorization": f"Bearer {CREDENTIAL}"})
    try:
        wait.until(EC.visibility_of_element_located((By.ID, "meeting")))
        entered = True
    except TimeoutException:
        entered = False
    check(status == 204 and entered, "let in from the dashboard's lobby endpoint, the page shows the meeting")
    console("meeting page lobby")
finally:
    check(not console_errors, "no console errors on any page" + ("" if not console_errors else f": {console_errors}"))
    driver.quit()

if failures:
    print(f"{len(failures)} browser check(s) failed", flush=True)
    sys.exit(1)
print("all dashboard checks passed", flush=True)
