"""Encryption at rest: cached answers in Redis, the ledger's outbox, stored prompts.

:class:`EncryptionSettings` is the ``encryption`` field of
:class:`~modelmuxer.config.MuxerSettings`; :meth:`EncryptionSettings.build` gives the
:class:`Encryptor` every component that writes to disk or to Redis shares (``None`` when off).

The cipher is Fernet from ``cryptography`` (AES-128-CBC with HMAC-SHA256, a random IV per
message: authenticated encryption). Each ciphertext is an envelope::

    mmx1:<key id>:<Fernet token>

``<key id>`` is 8 hex digits derived from the key (never the key), so decryption picks the key
directly and an error can say whether the key is unknown (rotated out) or the data was altered.

Rotation: ``keys`` lists the keys newest first. The first encrypts; every one decrypts. Put a
new key first and keep the old one after it until nothing written under it is still needed.

This module imports ``cryptography`` only when an :class:`Encryptor` is built.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from modelmuxer.errors import ConfigError, DecryptionError

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

__all__ = [
    "DEFAULT_KEYS_ENV",
    "MARKER",
    "EncryptionSettings",
    "Encryptor",
    "generate_key",
    "is_encrypted",
    "key_id",
    "reveal",
]

#: The environment variable read for the keys when ``encryption.keys`` is empty.
DEFAULT_KEYS_ENV: Final = "MODELMUXER_ENCRYPTION_KEYS"
#: What every ciphertext starts with (a version: a later format gets another marker).
MARKER: Final = b"mmx1:"
_MARKER_TEXT: Final = MARKER.decode("ascii")
_ID_LEN: Final = 8
_HEADER_LEN: Final = len(MARKER) + _ID_LEN + 1


def generate_key() -> str:
    """A new random key: 32 bytes, URL-safe base64 (44 characters), as ``keys`` takes it."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode("ascii")


def key_id(key: bytes) -> str:
    """The id of ``key`` (its 44-character form): 8 hex digits of a hash, safe to log."""
    return hashlib.sha256(b"modelmuxer key id\x00" + key).hexdigest()[:_ID_LEN]


def is_encrypted(data: bytes | str) -> bool:
    """Whether ``data`` is a ModelMuxer ciphertext (starts with :data:`MARKER`)."""
    if isinstance(data, bytes):
        return data.startswith(MARKER)
    return data.startswith(_MARKER_TEXT)


def _id_of(data: bytes) -> str | None:
    if len(data) <= _HEADER_LEN or data[_HEADER_LEN - 1 : _HEADER_LEN] != b":":
        return None
    kid = data[len(MARKER) : _HEADER_LEN - 1]
    try:
        text = kid.decode("ascii")
    except UnicodeDecodeError:
        return None
    return text if all(c in "0123456789abcdef" for c in text) else None


class Encryptor:
    """Encrypts with the first of ``keys`` and decrypts with whichever one wrote the data.

    ``keys``: the keys newest first, each as :func:`generate_key` makes them (44 URL-safe
    base64 characters). ``source`` names where they came from (in errors).

    :raises ConfigError: no key, a key that is not one, or the same key twice.
    """

    def __init__(self, keys: Sequence[str | bytes], *, source: str = "encryption.keys") -> None:
        from cryptography.fernet import Fernet

        if not keys:
            raise ConfigError(
                f"{source}: encryption is on but no key is set; generate one with "
                "'modelmuxer keys generate'"
            )
        self._fernets: dict[str, Fernet] = {}
        for i, key in enumerate(keys):
            raw = key.encode("ascii", "replace") if isinstance(key, str) else key
            raw = raw.strip()
            try:
                fernet = Fernet(raw)
            except (ValueError, binascii.Error):
                raise ConfigError(
                    f"{source}[{i}] is not a key (32 bytes as 44 URL-safe base64 "
                    "characters); generate one with 'modelmuxer keys generate'"
                ) from None
            kid = key_id(raw)
            if kid in self._fernets:
                raise ConfigError(f"{source}[{i}] repeats an earlier key (id {kid})")
            self._fernets[kid] = fernet
            if i == 0:
                self._primary_id, self._primary = kid, fernet
                # a separate key for digests: never the encryption key itself
                self._digest_key = hmac.digest(raw, b"modelmuxer digest key", "sha256")

    @property
    def key_ids(self) -> tuple[str, ...]:
        """The ids of the keys, the encrypting one first."""
        return tuple(self._fernets)

    @property
    def primary_id(self) -> str:
        """The id of the key new data is encrypted under."""
        return self._primary_id

    def encrypt(self, data: bytes) -> bytes:
        """``data`` encrypted under the first key, as an envelope (ASCII bytes)."""
        token = self._primary.encrypt(data)
        return MARKER + self._primary_id.encode("ascii") + b":" + token

    def decrypt(self, data: bytes, *, what: str = "data") -> bytes:
        """The plaintext of an envelope :meth:`encrypt` made under any of the keys.

        :raises DecryptionError: ``malformed`` (not an envelope), ``unknown_key`` (its key is
            not configured), ``tampered`` (authentication failed). Never returns garbage.
        """
        from cryptography.fernet import InvalidToken

        if not is_encrypted(data):
            raise DecryptionError(what, "malformed")
        kid = _id_of(data)
        if kid is None:
            raise DecryptionError(what, "malformed")
        fernet = self._fernets.get(kid)
        if fernet is None:
            raise DecryptionError(what, "unknown_key", key_id=kid)
        try:
            return fernet.decrypt(data[_HEADER_LEN:])
        except InvalidToken:
            raise DecryptionError(what, "tampered", key_id=kid) from None

    def encrypt_text(self, text: str) -> str:
        """``text`` encrypted (UTF-8), as an ASCII string: for a text column."""
        return self.encrypt(text.encode("utf-8", "surrogatepass")).decode("ascii")

    def decrypt_text(self, text: str, *, what: str = "text") -> str:
        """The plaintext of :meth:`encrypt_text`'s output.

        :raises DecryptionError: as :meth:`decrypt`.
        """
        try:
            data = text.encode("ascii")
        except UnicodeEncodeError:
            raise DecryptionError(what, "malformed") from None
        return self.decrypt(data, what=what).decode("utf-8", "surrogatepass")

    def rotate(self, data: bytes, *, what: str = "data") -> bytes:
        """``data`` (an envelope under any configured key) encrypted again under the first."""
        if _id_of(data) == self._primary_id:
            self.decrypt(data, what=what)  # still authenticated: a tampered one fails here
            return data
        return self.encrypt(self.decrypt(data, what=what))

    def digest(self, text: str) -> str:
        """A keyed digest of ``text`` (HMAC-SHA256 under a key derived from the first key):
        equal texts give equal digests, and nobody without the key can test a guess."""
        mac = hmac.new(self._digest_key, text.encode("utf-8", "surrogatepass"), "sha256")
        return mac.hexdigest()[:32]

    def __repr__(self) -> str:
        return f"Encryptor(key_ids={list(self.key_ids)!r})"


def reveal(data: bytes, encryptor: Encryptor | None, *, what: str = "data") -> bytes:
    """``data`` as written: decrypted when it is a ciphertext, as is otherwise (written before
    encryption was turned on).

    :raises DecryptionError: it is encrypted and cannot be decrypted (``disabled`` when
        ``encryptor`` is ``None``).
    """
    if not is_encrypted(data):
        return data
    if encryptor is None:
        raise DecryptionError(what, "disabled", key_id=_id_of(data))
    return encryptor.decrypt(data, what=what)


class EncryptionSettings(BaseModel):
    """The ``encryption`` section of :class:`~modelmuxer.config.MuxerSettings`.

    Off by default. When on, cached answers in Redis, the ledger's outbox files, the prompts
    the ledger and the audit log store (when they do) are encrypted; see
    ``docs/operations.md`` for key generation and rotation.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = Field(
        default=False,
        description="encrypt cached answers in Redis, the ledger outbox and stored prompts",
    )
    keys: list[SecretStr] = Field(
        default_factory=list,
        description="keys ('modelmuxer keys generate'), newest first: the first encrypts, "
        "every one decrypts (rotation); shown masked",
    )
    keys_env: str | None = Field(
        default=DEFAULT_KEYS_ENV,
        description="environment variable with comma-separated keys, newest first, read when "
        "keys is empty",
    )

    def resolved_keys(self) -> tuple[list[str], str]:
        """The keys (``keys``, else the ``keys_env`` variable's) and where they came from."""
        if self.keys:
            return [k.get_secret_value() for k in self.keys], "encryption.keys"
        if self.keys_env:
            value = os.environ.get(self.keys_env, "")
            return [k for k in (p.strip() for p in value.split(",")) if k], f"${self.keys_env}"
        return [], "encryption.keys"

    def build(self) -> Encryptor | None:
        """The encryptor, or ``None`` when encryption is off.

        :raises ConfigError: on, but no valid key.
        """
        if not self.enabled:
            return None
        keys, source = self.resolved_keys()
        if not keys:
            where = f" or ${self.keys_env}" if self.keys_env else ""
            raise ConfigError(
                f"encryption.enabled is set but no key is configured: set encryption.keys{where} "
                "(generate a key with 'modelmuxer keys generate')"
            )
        return Encryptor(keys, source=source)
