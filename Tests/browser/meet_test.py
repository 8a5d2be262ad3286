#!/usr/bin/env python3
"""Two browsers meeting on /meet with fake cameras and microphones, through Admit and the Janus
dev mode starts (CONTRACT.md sections 7 and 8). Run by scripts/browser-test.sh inside a network
namespace of its own (Janus gathers no candidates on loopback).

Usage: meet_test.py BASE_URL [SCREENSHOT_DIR]
"""
import json
import os
import sys
import time
import urllib.request

from common import browser, check, failures
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

BASE = sys.argv[1]
SHOTS = sys.argv[2] if len(sys.argv) > 2 else None



with urllib.request.urlopen(BASE + "/get-token") as response:
    token = json.loads(response.read())["token"]
request = urllib.request.Request(BASE + "/v2/rooms", data=b"{}", method="POST", headers={"Authorization": token, "Content-Type": "application/json"})
with urllib.request.urlopen(request) as response:
    room = json.loads(response.read())["roomId"]

alice, bob = browser("1100,800", autoplay=True), browser("1100,800", autoplay=True)
errors = []


def join(driver, name):
    driver.get(f"{BASE}/meet/{room}")
    wait = WebDriverWait(driver, 15)
    field = wait.until(EC.presence_of_element_located((By.ID, "token")))
    wait.until(lambda d: field.get_attribute("value"))
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "participant-id").send_keys(name.lower())
    driver.find_element(By.XPATH, "//button[normalize-space(.)='Join']").click()
    wait.until(EC.visibility_of_element_located((By.ID, "meeting")))


def video_of(driver, participant):
    """[videoWidth, currentTime] of a participant's tile video; None without one."""
    return driver.execute_script(
        "const v = document.querySelector(`figure[data-participant='${arguments[0]}'] video`);"
        "return v ? [v.videoWidth, v.currentTime] : null;", participant)


def sees_video(driver, participant, seconds=20):
    deadline = time.monotonic() + seconds
    first = None
    while time.monotonic() < deadline:
        state = video_of(driver, participant)
        if state and state[0] > 0:
            if first is None:
                first = state[1]
            elif state[1] > first + 0.5:
                return True
        time.sleep(0.25)
    return False


try:
    join(alice, "Alice")
    join(bob, "Bob")
    check(sees_video(alice, "bob"), "Alice sees Bob's video (frames playing)")
    check(sees_video(bob, "alice"), "Bob sees Alice's video (frames playing)")
    caption = alice.find_element(By.CSS_SELECTOR, "figure[data-participant='bob'] figcaption").text
    check("Bob" in caption, f"Bob's tile is captioned with his name ({caption})")
    buttons = [b.text for b in alice.find_elements(By.CSS_SELECTOR, "figure[data-participant='bob'] button")]
    check(buttons == ["Mute", "Remove"], f"a moderator gets Mute and Remove on each tile ({buttons})")
    if SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        alice.save_screenshot(os.path.join(SHOTS, "meeting.png"))
    def within(driver, condition, seconds=10):
        try:
            WebDriverWait(driver, seconds).until(condition)
            return True
        except TimeoutException:
            return False

    alice.find_element(By.CSS_SELECTOR, "figure[data-participant='bob'] button").click()
    check(within(bob, lambda d: "mic off" in d.find_element(By.CSS_SELECTOR, "figure[data-participant='bob'] figcaption").text),
          "Mute turns Bob's microphone off, on Bob's page too")
    alice.find_element(By.XPATH, "//figure[@data-participant='bob']//button[normalize-space(.)='Remove']").click()
    check(within(bob, lambda d: "You left the meeting" in d.find_element(By.ID, "status").text), "Remove takes Bob out (his page says so)")
    check(within(alice, lambda d: not d.find_elements(By.CSS_SELECTOR, "figure[data-participant='bob']")), "and his tile leaves Alice's page")
    for name, driver in [("Alice", alice), ("Bob", bob)]:
        errors += [f"{name}: {entry['message']}" for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
finally:
    check(not errors, "no console errors" + (f": {errors}" if errors else ""))
    alice.quit()
    bob.quit()

if failures:
    print(f"{len(failures)} meeting check(s) failed", flush=True)
    sys.exit(1)
print("all meeting page checks passed", flush=True)
