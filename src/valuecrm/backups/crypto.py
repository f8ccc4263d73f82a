"""Passphrase encryption of a backup, streamed: scrypt derives the key, AES-256-GCM seals
the stream in 1 MiB records, so a backup of any size never sits in memory.

The record layout follows the STREAM construction (Hoang, Reyhanitabar, Rogaway and
Vizár, "Online Authenticated-Encryption and its Nonce-Reuse Misuse-Resistance", 2015):
each record's nonce is a random prefix, the record's counter and a "last record" flag,
so records cannot be reordered, dropped or the stream cut short without detection.

  header  = MAGIC(8) · log2 N(1) · r(1) · p(1) · salt(16) · nonce prefix(7)
  record  = last flag(1) · length(4, big-endian) · AES-GCM(key, prefix·counter(4)·flag, chunk, header)
"""

from __future__ import annotations

import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

MAGIC = b"VCRMBAK1"
CHUNK = 1 << 20
SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P = 15, 8, 1
HEADER_SIZE = len(MAGIC) + 3 + 16 + 7


class DecryptionFailed(ValueError):
    """Wrong passphrase, or the file was changed or cut short."""


def _key(passphrase: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    if not passphrase:
        raise ValueError("An empty passphrase cannot protect a backup.")
    return Scrypt(salt=salt, length=32, n=2 ** log2_n, r=r, p=p).derive(passphrase.encode("utf-8"))


def is_encrypted(path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(len(MAGIC)) == MAGIC


def _nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    return prefix + struct.pack(">I", counter) + (b"\x01" if last else b"\x00")


class EncryptingWriter:
    """A write-only file object: what is written to it reaches `raw` encrypted."""

    def __init__(self, raw, passphrase: str):
        self.raw = raw
        salt, self.prefix = os.urandom(16), os.urandom(7)
        self.header = MAGIC + bytes([SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P]) + salt + self.prefix
        self.aead = AESGCM(_key(passphrase, salt, SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P))
        self.raw.write(self.header)
        self.buffer = bytearray()
        self.counter = 0
        self.closed = False

    def _seal(self, chunk: bytes, last: bool) -> None:
        if self.counter >= 2 ** 32:
            raise OverflowError("backup too large for one stream")
        sealed = self.aead.encrypt(_nonce(self.prefix, self.counter, last), chunk, self.header)
        self.raw.write((b"\x01" if last else b"\x00") + struct.pack(">I", len(sealed)) + sealed)
        self.counter += 1

    def write(self, data) -> int:
        self.buffer += data
        # Keep at least one byte back: the last record must be sealed as the last.
        while len(self.buffer) > CHUNK:
            self._seal(bytes(self.buffer[:CHUNK]), last=False)
            del self.buffer[:CHUNK]
        return len(data)

    def flush(self) -> None:
        self.raw.flush()

    def close(self) -> None:
        if not self.closed:
            self._seal(bytes(self.buffer), last=True)
            self.buffer.clear()
            self.closed = True
            self.raw.flush()


class DecryptingReader:
    """A read-only file object over an encrypted backup; raises DecryptionFailed on a wrong
    passphrase or any change to the file, including a missing end."""

    def __init__(self, raw, passphrase: str):
        self.raw = raw
        header = raw.read(HEADER_SIZE)
        if len(header) != HEADER_SIZE or not header.startswith(MAGIC):
            raise DecryptionFailed("This is not an encrypted ValueCRM backup.")
        log2_n, r, p = header[8], header[9], header[10]
        if not (10 <= log2_n <= 22 and 1 <= r <= 32 and 1 <= p <= 16):
            raise DecryptionFailed("The backup's key parameters are out of range.")
        self.header, self.prefix = header, header[-7:]
        self.aead = AESGCM(_key(passphrase, header[11:27], log2_n, r, p))
        self.counter = 0
        self.buffer = b""
        self.done = False

    def _next(self) -> None:
        head = self.raw.read(5)
        if len(head) != 5:
            raise DecryptionFailed("The backup is cut short (its last part is missing).")
        last, size = head[0] == 1, struct.unpack(">I", head[1:])[0]
        if size > CHUNK + 16:
            raise DecryptionFailed("The backup is damaged.")
        sealed = self.raw.read(size)
        try:
            self.buffer += self.aead.decrypt(_nonce(self.prefix, self.counter, last), sealed,
                                             self.header)
        except InvalidTag as exc:
            raise DecryptionFailed("Wrong passphrase, or the backup was changed.") from exc
        self.counter += 1
        if last:
            if self.raw.read(1):
                raise DecryptionFailed("The backup has data after its end.")
            self.done = True

    def read(self, n: int = -1) -> bytes:
        while not self.done and (n < 0 or len(self.buffer) < n):
            self._next()
        if n < 0:
            n = len(self.buffer)
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def close(self) -> None:
        pass
