"""PyJWT sign/s and verify/s on the seed's payload, one thread (median of five 0.4 s runs)."""
import sys
import time
import warnings

import jwt

warnings.simplefilter("ignore")
SECRET = sys.argv[1]
API_KEY = sys.argv[2]
now = int(time.time())
payload = {
    "apikey": API_KEY, "permissions": ["allow_join"], "version": 2, "roomId": "2kyv-gzay-64pg",
    "participantId": "lxvdplwt", "roles": ["crawler", "rtc"], "iat": now, "exp": now + 7200,
}
token = jwt.encode(payload, SECRET, algorithm="HS256")


def rate(body):
    rates = []
    for _ in range(5):
        count, start = 0, time.perf_counter()
        while True:
            for _ in range(500):
                body()
            count += 500
            elapsed = time.perf_counter() - start
            if elapsed >= 0.4:
                break
        rates.append(count / elapsed)
    return sorted(rates)[2]


print(f"pyjwt verify/s {rate(lambda: jwt.decode(token, SECRET, algorithms=['HS256'])):.0f}")
print(f"pyjwt sign/s {rate(lambda: jwt.encode(payload, SECRET, algorithm='HS256')):.0f}")
