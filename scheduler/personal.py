"""A petitioner's personal data, kept as little as the work allows.

The phone number is needed to send the SMS, so it is kept, encrypted (Fernet); pages and logs only ever see
its masked form. The ID number is needed only to recognise a returning petitioner, so only its keyed hash
(HMAC-SHA256) is kept. Both keys derive from one secret, generated into the data dir (mode 0600) unless the
settings give one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import re
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from scheduler.errors import InvalidIdNumber, InvalidPhone, SchedulerError

logger = logging.getLogger(__name__)

MOBILE = re.compile(r"^1[3-9]\d{9}$")  # mainland China mobile numbers (MIIT numbering plan)
ID_NUMBER = re.compile(r"^\d{17}[\dX]$")
# GB 11643-1999: the check character of the 18-digit resident identity number.
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"


def normalise_phone(raw: str) -> str:
    """11 digits, from what people type: spaces, dashes, +86 or 0086 in front."""
    digits = re.sub(r"[\s\-()]", "", raw or "")
    for prefix in ("+86", "0086", "86"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11:
            digits = digits[len(prefix) :]
    if not MOBILE.match(digits):
        raise InvalidPhone("a mobile number has 11 digits and starts with 13 to 19")
    return digits


def mask_phone(phone: str) -> str:
    return f"{phone[:3]}****{phone[-4:]}" if len(phone) >= 7 else "****"


def normalise_id_number(raw: str) -> str:
    number = re.sub(r"\s", "", raw or "").upper()
    if not ID_NUMBER.match(number):
        raise InvalidIdNumber("an ID number has 18 characters: 17 digits, then a digit or X")
    total = sum(int(digit) * weight for digit, weight in zip(number[:17], ID_WEIGHTS, strict=True))
    if ID_CHECK[total % 11] != number[17]:
        raise InvalidIdNumber("this ID number's check character is wrong: please check it")
    return number


def mask_name(name: str) -> str:
    """张三丰 -> 张**: what a screen others can see shows."""
    return name[:1] + "*" * max(1, len(name) - 1) if name else ""


class PersonalData:
    """Encrypts phone numbers and hashes ID numbers with keys derived from one secret."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 32:
            raise ValueError("the personal-data key must be at least 32 bytes")
        self._fernet = Fernet(base64.urlsafe_b64encode(_derive(secret, b"phone-encryption")))
        self._id_key = _derive(secret, b"id-number-hash")
        self._phone_key = _derive(secret, b"phone-lookup")
        self._link_key = _derive(secret, b"visit-link")

    @classmethod
    def from_data_dir(cls, data_dir: Path, configured: str | None = None) -> PersonalData:
        if configured:
            return cls(configured.encode())
        path = data_dir / "personal_key"
        if not path.exists():
            data_dir.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(secrets.token_urlsafe(48) + "\n")
            logger.info("generated a new personal-data key in %s", path)
        return cls(path.read_text().strip().encode())

    def id_hash(self, id_number: str) -> str:
        return hmac.new(self._id_key, normalise_id_number(id_number).encode(), hashlib.sha256).hexdigest()

    def phone_hash(self, phone: str) -> str:
        return hmac.new(self._phone_key, normalise_phone(phone).encode(), hashlib.sha256).hexdigest()

    def link_key(self, salt: str) -> str:
        """The key in a petitioner's SMS link: 128 bits, rebuilt from the appointment's salt."""
        digest = hmac.new(self._link_key, salt.encode(), hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def encrypt_phone(self, phone: str) -> bytes:
        return self._fernet.encrypt(normalise_phone(phone).encode())

    def decrypt_phone(self, secret: bytes) -> str:
        try:
            return self._fernet.decrypt(secret).decode()
        except InvalidToken:
            raise SchedulerError("a stored phone number cannot be read: the personal-data key has changed") from None


def _derive(secret: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"reception-hall " + purpose).derive(secret)
