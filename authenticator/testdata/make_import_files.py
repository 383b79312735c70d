#!/usr/bin/env python3
"""Writes the import test files of authenticator/testdata/import/ from the
formats' public descriptions (Aegis' docs/vault.md; Google Authenticator's
otpauth-migration protobuf), independently of the app's Java code: scrypt
comes from Python's hashlib (OpenSSL), AES-GCM from the `cryptography`
package, and the protobuf is written by hand below.

    python3 authenticator/testdata/make_import_files.py

Random salts and nonces are fixed (derived from a counter) so that running
it again gives the same bytes. Passwords are in PASSWORDS, for the tests.
"""
import base64
import hashlib
import json
import os
import urllib.parse

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "import")
PASSWORDS = {"aegis-encrypted.json": "correct horse battery staple"}

# The accounts every file holds (base32 secrets), with what the app must import.
ACCOUNTS = [
    dict(type="totp", issuer="Example", name="alice@example.org", secret="JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
         algo="SHA1", digits=6, period=30),
    dict(type="totp", issuer="Big Bank", name="bob", secret="GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZA",
         algo="SHA256", digits=8, period=60),
    dict(type="hotp", issuer="Çava", name="carol", secret="MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U",
         algo="SHA512", digits=6, counter=42),
]
UNSUPPORTED = dict(type="steam", issuer="Steam", name="dave", secret="MFRGGZDFMZTWQ2LKNNWG23TP",
                   algo="SHA1", digits=5, period=30)

_counter = [0]


def fixed_random(n):
    _counter[0] += 1
    return hashlib.sha256(b"twofa test randomness %d" % _counter[0]).digest()[:n]


def aegis_entry(a, i):
    info = {"secret": a["secret"], "algo": a["algo"], "digits": a["digits"]}
    if a["type"] == "hotp":
        info["counter"] = a["counter"]
    else:
        info["period"] = a["period"]
    return {"type": a["type"], "uuid": "00000000-0000-4000-8000-%012d" % i, "name": a["name"],
            "issuer": a["issuer"], "note": "", "favorite": False, "icon": None, "info": info}


def aegis_content():
    return {"version": 2, "entries": [aegis_entry(a, i) for i, a in enumerate(ACCOUNTS + [UNSUPPORTED])]}


def aegis_plain():
    return {"version": 1, "header": {"slots": None, "params": None}, "db": aegis_content()}


def aegis_encrypted(password):
    master = fixed_random(32)
    salt = fixed_random(32)
    n, r, p = 1 << 14, 8, 1
    slot_key = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=64 << 20, dklen=32)
    key_nonce = fixed_random(12)
    wrapped = AESGCM(slot_key).encrypt(key_nonce, master, None)
    db_nonce = fixed_random(12)
    sealed = AESGCM(master).encrypt(db_nonce, json.dumps(aegis_content()).encode("utf-8"), None)
    slots = [
        # A fingerprint slot first: bound to the other phone, it must be passed over.
        {"type": 2, "uuid": "11111111-1111-4111-8111-111111111111", "key": fixed_random(48).hex(),
         "key_params": {"nonce": fixed_random(12).hex(), "tag": fixed_random(16).hex()}},
        {"type": 1, "uuid": "22222222-2222-4222-8222-222222222222", "key": wrapped[:-16].hex(),
         "key_params": {"nonce": key_nonce.hex(), "tag": wrapped[-16:].hex()},
         "n": n, "r": r, "p": p, "salt": salt.hex(), "repaired": True},
    ]
    return {"version": 1,
            "header": {"slots": slots, "params": {"nonce": db_nonce.hex(), "tag": sealed[-16:].hex()}},
            "db": base64.b64encode(sealed[:-16]).decode("ascii")}


# --- protobuf, by hand: tag = field << 3 | wire type; 0 = varint, 2 = length-delimited

def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field_varint(field, n):
    return varint(field << 3) + varint(n)


def field_bytes(field, data):
    return varint(field << 3 | 2) + varint(len(data)) + data


def otp_parameters(a, name_with_prefix):
    algo = {"SHA1": 1, "SHA256": 2, "SHA512": 3, "MD5": 4}[a["algo"]]
    digits = {6: 1, 8: 2}[a["digits"]]
    kind = {"hotp": 1, "totp": 2}[a["type"]]
    name = a["issuer"] + ":" + a["name"] if name_with_prefix else a["name"]
    msg = field_bytes(1, base64.b32decode(a["secret"] + "=" * (-len(a["secret"]) % 8)))
    msg += field_bytes(2, name.encode("utf-8")) + field_bytes(3, a["issuer"].encode("utf-8"))
    msg += field_varint(4, algo) + field_varint(5, digits) + field_varint(6, kind)
    if a["type"] == "hotp":
        msg += field_varint(7, a["counter"])
    return msg


def migration_uri(accounts, size, index, batch_id):
    payload = b"".join(field_bytes(1, otp_parameters(a, i % 2 == 0)) for i, a in enumerate(accounts))
    payload += field_varint(2, 1) + field_varint(3, size) + field_varint(4, index) + field_varint(5, batch_id)
    data = base64.b64encode(payload).decode("ascii")
    return "otpauth-migration://offline?data=" + urllib.parse.quote(data, safe="")


def otpauth(a):
    label = urllib.parse.quote(a["issuer"], safe="") + ":" + urllib.parse.quote(a["name"], safe="@")
    q = {"secret": a["secret"], "issuer": a["issuer"], "algorithm": a["algo"], "digits": a["digits"]}
    if a["type"] == "hotp":
        q["counter"] = a["counter"]
    else:
        q["period"] = a["period"]
    return "otpauth://%s/%s?%s" % (a["type"], label, urllib.parse.urlencode(q))


def main():
    os.makedirs(OUT, exist_ok=True)

    def write(name, text):
        with open(os.path.join(OUT, name), "w", encoding="utf-8") as f:
            f.write(text)

    write("aegis-plain.json", json.dumps(aegis_plain(), indent=2, ensure_ascii=False) + "\n")
    write("aegis-encrypted.json",
          json.dumps(aegis_encrypted(PASSWORDS["aegis-encrypted.json"]), indent=2) + "\n")
    # Google only transfers 30-second TOTP: the 60-second account is left out of its files.
    google = [a for a in ACCOUNTS if a.get("period", 30) == 30]
    write("google-single.txt", migration_uri(google, 1, 0, 7) + "\n")
    write("google-batch.txt", migration_uri(google[:1], 2, 0, 99) + "\n" + migration_uri(google[1:], 2, 1, 99) + "\n")
    write("otpauth-list.txt", "# exported links, one per line\n" + "\n".join(otpauth(a) for a in ACCOUNTS)
          + "\n\notpauth://totp/Broken:eve?secret=NOT-BASE32!\n")
    expected = {"accounts": ACCOUNTS, "google": google, "passwords": PASSWORDS}
    write("expected.json", json.dumps(expected, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
