"""End-to-end encryption of ``private-encrypted-`` channels, exactly as the official SDKs and pusher-js do it.

Shared secret = ``sha256(channel_name_bytes + master_key)``; the event data is sealed with NaCl secretbox
(XSalsa20-Poly1305) under a random 24-byte nonce and sent as ``{"nonce": b64, "ciphertext": b64}``
(pusher-http-python ``pusher/crypto.py``; pusher-js ``src/core/channels/encrypted_channel.ts``). The server never
sees the master key or the plaintext. PyNaCl is imported lazily: it is only needed once an encrypted channel is used.
"""

from __future__ import annotations

import base64
import hashlib
import os
from typing import TYPE_CHECKING, Final

from pusherpy.protocol import codec
from pusherpy.protocol.errors import ConfigError

if TYPE_CHECKING:
    from nacl.secret import SecretBox

NONCE_SIZE: Final = 24
_MAC_SIZE: Final = 16


def shared_secret(channel_name: str, master_key: bytes) -> bytes:
    """Return the 32-byte key of one encrypted channel (the ``shared_secret`` pusher-js receives, base64-encoded)."""
    return hashlib.sha256(channel_name.encode() + master_key).digest()


def _secret_box(key: bytes) -> SecretBox:
    try:
        from nacl.secret import SecretBox
    except ImportError:  # pragma: no cover - pynacl is installed in development
        raise ConfigError("encrypted channels need PyNaCl: pip install 'pusherpy[encryption]'") from None
    return SecretBox(key)


def encrypt(channel_name: str, data: str, master_key: bytes, *, nonce: bytes | None = None) -> str:
    """Seal ``data`` for ``channel_name`` and return the JSON string that becomes the event's ``data``.

    ``data`` is encrypted as it is (pusher-http-python does the same); pusher-js then parses the plaintext as
    JSON when it can. Pass ``nonce`` only in tests: reusing a nonce with the same key breaks secretbox.
    """
    box = _secret_box(shared_secret(channel_name, master_key))
    nonce = os.urandom(NONCE_SIZE) if nonce is None else nonce
    sealed = box.encrypt(data.encode(), nonce)
    return codec.dumps(
        {
            "nonce": base64.b64encode(nonce).decode(),
            "ciphertext": base64.b64encode(sealed.ciphertext).decode(),
        }
    )


def decrypt(channel_name: str, data: str, master_key: bytes) -> str:
    """Open an encrypted event's ``data`` (what pusher-js does on receipt); used by tests and debugging tools.

    Raises:
        ValueError: the data is not ``{"nonce", "ciphertext"}`` JSON.
        nacl.exceptions.CryptoError: the ciphertext was not sealed with this channel's key.
    """
    payload = codec.loads(data)
    if not isinstance(payload, dict) or not {"nonce", "ciphertext"} <= payload.keys():
        raise ValueError("encrypted data must be a JSON object with 'nonce' and 'ciphertext'")
    box = _secret_box(shared_secret(channel_name, master_key))
    plain: bytes = box.decrypt(base64.b64decode(payload["ciphertext"]), base64.b64decode(payload["nonce"]))
    return plain.decode()


def encrypted_size(plain_bytes: int) -> int:
    """Return the UTF-8 size of ``encrypt``'s output for a plaintext of ``plain_bytes`` bytes.

    Lets the size check and the stream splitter budget without encrypting: the size depends only on the length.
    """
    nonce_b64 = 4 * ((NONCE_SIZE + 2) // 3)
    cipher_b64 = 4 * ((plain_bytes + _MAC_SIZE + 2) // 3)
    return len('{"nonce":"","ciphertext":""}') + nonce_b64 + cipher_b64
