#!/usr/bin/env python3
"""Mint interop vectors with PyJWT for Tests/AdmitTokenTests/Vectors/pyjwt.json.

Run from the repository root: python3 scripts/vectors/pyjwt_vectors.py
Tokens use fixed times, so the Swift tests check them with a fixed clock (NOW).
"""
import json
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

NOW = 1795965000
IAT = 1795960000
SECRET = "8f2a5c0b1d9e4f7a6b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a"
OTHER = "a-different-secret-of-the-same-kind-0123456789abcdef0123456789ab"
API_KEY = "1b7f3e0c-4f5d-4d3a-9a51-7c9e2a6f0b42"

seed = {
    "apikey": API_KEY,
    "permissions": ["allow_join"],
    "version": 2,
    "roomId": "2kyv-gzay-64pg",
    "participantId": "lxvdplwt",
    "roles": ["crawler", "rtc"],
    "iat": IAT,
    "exp": IAT + 7200,
}


def payload(**changes):
    p = dict(seed)
    for key, value in changes.items():
        if value is None:
            p.pop(key, None)
        else:
            p[key] = value
    return p


vectors = []


def add(name, token, expect, secret=SECRET, claims=None):
    vectors.append({"name": name, "secret": secret, "token": token, "expect": expect, "claims": claims})


def valid(name, p, **kw):
    add(name, jwt.encode(p, SECRET, algorithm="HS256", **kw), "valid", claims=p)


def invalid(name, token, code, reason):
    add(name, token, {"code": code, "reason": reason})


valid("seed payload with every optional claim", seed)
valid("minimal payload: apikey, permissions, exp", {"apikey": API_KEY, "permissions": ["allow_join"], "exp": IAT + 7200})
valid("ask_join alone", payload(permissions=["ask_join"]))
valid("allow_join with allow_mod", payload(permissions=["allow_join", "allow_mod"]))
valid("version as the string 2", payload(version="2"))
valid("roles crawler only", payload(roles=["crawler"]))
valid("unknown claims are ignored", payload(tenant={"plan": "pro", "seats": [1, 2]}, sub="user-1"))
valid("extra header kid", seed, headers={"kid": "key-1"})
valid("non-ASCII room id", payload(roomId="salle-\u00e9t\u00e9-\u4f1a\u8b70"))
valid("decimal exp", payload(exp=IAT + 7200.5))
valid("nbf in the past", payload(nbf=IAT))

invalid("expired two hours ago", jwt.encode(payload(iat=NOW - 9000, exp=NOW - 7200), SECRET, algorithm="HS256"), 4002, "expired")
invalid("signed with another secret", jwt.encode(seed, OTHER, algorithm="HS256"), 4002, "signature")
invalid("HS512", jwt.encode(seed, SECRET, algorithm="HS512"), 4002, "algorithm")
invalid("HS384", jwt.encode(seed, SECRET, algorithm="HS384"), 4002, "algorithm")
rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
invalid("RS256", jwt.encode(seed, rsa_key, algorithm="RS256"), 4002, "algorithm")
invalid("alg none", jwt.encode(seed, None, algorithm="none"), 4002, "algorithm")
invalid("ask_join with allow_join", jwt.encode(payload(permissions=["ask_join", "allow_join"]), SECRET, algorithm="HS256"), 4008, "permissions")
invalid("roomId without version", jwt.encode(payload(version=None, participantId=None, roles=None), SECRET, algorithm="HS256"), 4002, "version-required")
invalid("no exp", jwt.encode(payload(exp=None), SECRET, algorithm="HS256"), 4002, "exp-missing")
invalid("nbf an hour ahead", jwt.encode(payload(nbf=NOW + 3600), SECRET, algorithm="HS256"), 4002, "not-yet-valid")
invalid("unknown permission", jwt.encode(payload(permissions=["allow_everything"]), SECRET, algorithm="HS256"), 4008, "permissions")
invalid("crit header", jwt.encode(seed, SECRET, algorithm="HS256", headers={"crit": ["exp"]}), 4002, "crit")

out = {"library": f"PyJWT {jwt.__version__}", "now": NOW, "apiKey": API_KEY, "vectors": vectors}
with open("Tests/AdmitTokenTests/Vectors/pyjwt.json", "w") as f:
    json.dump(out, f, indent=1, ensure_ascii=False)
    f.write("\n")
print(f"{len(vectors)} vectors")
