"""What the browser tests share: the check log, and a headless Chromium with fake camera and
microphone whose console is recorded (Debian's chromium and chromium-driver unless CHROMIUM
and CHROMEDRIVER say otherwise)."""
import os

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

failures = []


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what, flush=True)
    if not condition:
        failures.append(what)


def browser(size="1280,900", autoplay=False):
    options = webdriver.ChromeOptions()
    flags = ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={size}",
             "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
    if autoplay:
        flags.append("--autoplay-policy=no-user-gesture-required")
    for flag in flags:
        options.add_argument(flag)
    options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")), options=options)
