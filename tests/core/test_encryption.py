"""Encryption at rest: the envelope, key rotation, tampering, and what is encrypted where:
cached answers in Redis, the ledger outbox (replayed across a rotation, quarantined when its
key is gone), the prompts the ledger and the audit log store.

Every "encrypted at rest" test reads the raw bytes (Redis values, outbox files, the database
file) and checks the plaintext is not there.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from _audit_support import audit_settings, fetch_audit
from _ledger_support import fetch_rows, make_record, sqlite_settings
from _support import OFFLINE_MODELS, MakeMuxer

from modelmuxer import Muxer, hookimpl
from modelmuxer.audit.verify import verify_chain
from modelmuxer.config import load_settings
from modelmuxer.context import RequestContext
from modelmuxer.crypto import (
    DEFAULT_KEYS_ENV,
    MARKER,
    EncryptionSettings,
    Encryptor,
    generate_key,
    is_encrypted,
    key_id,
)
from modelmuxer.errors import ConfigError, DecryptionError
from modelmuxer.ledger import CostLedger
from modelmuxer.ledger.outbox import QUARANTINE, Outbox, read_segment

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

MINI = OFFLINE_MODELS[0]
KEY_A, KEY_B, KEY_C = generate_key(), generate_key(), generate_key()
SECRET = "Patient Zoltan Quixby, card 4111 1111 1111 1111: summarise the file."


def _id(key: str) -> str:
    return key_id(key.encode())


# -- the envelope --------------------------------------------------------------------------------


def test_a_round_trip_gives_the_plaintext_back_in_an_envelope() -> None:
    enc = Encryptor([KEY_A])
    sealed = enc.encrypt(SECRET.encode())
    assert sealed.startswith(MARKER + _id(KEY_A).encode() + b":")
    assert SECRET.encode() not in sealed
    assert enc.decrypt(sealed) == SECRET.encode()
    assert enc.encrypt(SECRET.encode()) != sealed  # a random IV each time
    assert enc.decrypt_text(enc.encrypt_text("héllo ✓")) == "héllo ✓"
    assert is_encrypted(sealed)
    assert is_encrypted(sealed.decode())
    assert not is_encrypted(b'[{"request_id": "x"}, null]')


def test_rotation_reads_old_data_and_writes_under_the_new_key() -> None:
    old = Encryptor([KEY_A]).encrypt(b"written before the rotation")
    rotated = Encryptor([KEY_B, KEY_A])
    assert rotated.decrypt(old) == b"written before the rotation"
    new = rotated.encrypt(b"written after")
    assert new.startswith(MARKER + _id(KEY_B).encode())
    assert rotated.key_ids == (_id(KEY_B), _id(KEY_A))
    assert rotated.rotate(old).startswith(MARKER + _id(KEY_B).encode())
    assert rotated.decrypt(rotated.rotate(old)) == b"written before the rotation"
    # the old key dropped: old data is a typed error naming the key it needs, never garbage
    with pytest.raises(DecryptionError) as caught:
        Encryptor([KEY_B]).decrypt(old, what="outbox line")
    assert caught.value.reason == "unknown_key"
    assert caught.value.key_id == _id(KEY_A)
    assert _id(KEY_A) in str(caught.value)
    assert "encryption.keys" in str(caught.value)
    assert KEY_A not in str(caught.value)


def test_tampered_or_malformed_data_is_a_typed_error() -> None:
    enc = Encryptor([KEY_A, KEY_B])
    sealed = bytearray(enc.encrypt(b"the answer is 42"))
    sealed[-10] ^= 0x01  # one bit in the token
    with pytest.raises(DecryptionError) as caught:
        enc.decrypt(bytes(sealed))
    assert (caught.value.reason, caught.value.key_id) == ("tampered", _id(KEY_A))
    # claiming another configured key: its authentication fails the same way
    swapped = enc.encrypt(b"x").replace(_id(KEY_A).encode(), _id(KEY_B).encode(), 1)
    with pytest.raises(DecryptionError, match="altered or corrupted"):
        enc.decrypt(swapped)
    for bad in (b"", b"plain text", MARKER, MARKER + b"zz:abc", enc.encrypt(b"x")[:20]):
        with pytest.raises(DecryptionError) as caught:
            enc.decrypt(bad)
        assert caught.value.reason in {"malformed", "tampered", "unknown_key"}
    with pytest.raises(DecryptionError, match=r"malformed|ModelMuxer ciphertext"):
        enc.decrypt_text("mmx1:é")


def test_settings_validate_keys_without_showing_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DEFAULT_KEYS_ENV, raising=False)
    assert EncryptionSettings().build() is None  # off by default
    with pytest.raises(ConfigError, match=DEFAULT_KEYS_ENV):
        EncryptionSettings(enabled=True).build()
    bad = "not-a-key-but-a-secret-all-the-same"
    with pytest.raises(ConfigError) as caught:
        EncryptionSettings(enabled=True, keys=[KEY_A, bad]).build()  # type: ignore[list-item]
    assert "encryption.keys[1]" in str(caught.value)
    assert bad not in str(caught.value)
    with pytest.raises(ConfigError, match="repeats"):
        Encryptor([KEY_A, KEY_A])
    settings = load_settings(encryption={"enabled": True, "keys": [KEY_A, KEY_B]})
    shown = settings.model_dump_json() + repr(settings) + repr(settings.encryption.build())
    assert KEY_A not in shown
    assert KEY_B not in shown
    # from the environment: comma-separated, newest first
    monkeypatch.setenv(DEFAULT_KEYS_ENV, f"{KEY_C}, {KEY_A}")
    from_env = EncryptionSettings(enabled=True).build()
    assert from_env is not None
    assert from_env.key_ids == (_id(KEY_C), _id(KEY_A))


def test_the_keys_command_generates_keys_and_shows_only_ids(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelmuxer.cli import main

    assert main(["keys", "generate", "--count", "2"]) == 0
    keys = capsys.readouterr().out.split()
    assert len(keys) == 2
    assert Encryptor(keys).key_ids == tuple(key_id(k.encode()) for k in keys)
    monkeypatch.setenv(DEFAULT_KEYS_ENV, ",".join(keys))
    assert main(["keys", "ids"]) == 0
    out = capsys.readouterr().out
    assert key_id(keys[0].encode()) in out
    assert "encrypts and decrypts" in out
    assert not any(k in out for k in keys)


def test_keys_ids_without_keys_or_encryption_does_not_say_encryption_is_on(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelmuxer.cli import main

    monkeypatch.delenv(DEFAULT_KEYS_ENV, raising=False)
    monkeypatch.delenv("MODELMUXER_ENCRYPTION", raising=False)
    assert main(["keys", "ids"]) == 2
    err = capsys.readouterr().err
    assert "encryption is on" not in err
    assert err.startswith(f"error: no encryption key is configured (${DEFAULT_KEYS_ENV}")
    assert "modelmuxer keys generate" in err


# -- cached answers in Redis ---------------------------------------------------------------------


class Events:
    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []

    @hookimpl
    def modelmuxer_event(self, name: str, ctx: RequestContext | None, data: dict[str, Any]) -> None:
        self.seen.append((name, data))


@pytest.fixture
def namespace(redis_url: str) -> Iterator[str]:
    name = f"mmtest-enc-{uuid.uuid4().hex[:12]}"
    yield name
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{name}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def _cache_muxer(
    make_muxer: MakeMuxer, url: str, namespace: str, keys: list[str], **cache: Any
) -> tuple[Muxer, Events]:
    events = Events()
    settings = load_settings(
        cache={
            "enabled": True,
            "backend": "redis",
            "redis_url": url,
            "namespace": namespace,
            "redis_timeout_s": 1.0,
            **cache,
        },
        encryption={"enabled": bool(keys), "keys": keys},
    )
    return make_muxer(OFFLINE_MODELS, settings=settings, plugins=[events]), events


def _answers(url: str, namespace: str) -> dict[bytes, bytes]:
    client = redis.Redis.from_url(url)
    try:
        names = list(client.scan_iter(match=f"{namespace}:x:*"))
        return {name: client.get(name) for name in names}  # type: ignore[misc]
    finally:
        client.close()


async def test_cached_answers_are_encrypted_at_rest_and_still_served(
    make_muxer: MakeMuxer, redis_url: str, namespace: str
) -> None:
    muxer, _ = _cache_muxer(make_muxer, redis_url, namespace, [KEY_A])
    first = await muxer.acomplete(SECRET, model=MINI)
    hit = await muxer.acomplete(SECRET, model=MINI)
    assert (first.cache, hit.cache, hit.text) == ("miss", "exact", first.text)
    (raw,) = _answers(redis_url, namespace).values()
    assert raw.startswith(MARKER + _id(KEY_A).encode())
    assert first.text.encode() not in raw
    assert b"Zoltan" not in raw
    assert json.loads(Encryptor([KEY_A]).decrypt(raw))["text"] == first.text


async def test_a_cache_rotation_keeps_old_entries_and_a_dropped_key_is_a_miss(
    make_muxer: MakeMuxer, redis_url: str, namespace: str
) -> None:
    old, _ = _cache_muxer(make_muxer, redis_url, namespace, [KEY_A])
    first = await old.acomplete(SECRET, model=MINI)
    # rotated: [B, A] serves what A wrote, and writes under B
    rotated, events = _cache_muxer(make_muxer, redis_url, namespace, [KEY_B, KEY_A])
    assert (await rotated.acomplete(SECRET, model=MINI)).text == first.text
    assert (await rotated.acomplete(SECRET, model=MINI)).cache == "exact"
    await rotated.acomplete("A different question about Zoltan.", model=MINI)
    by_key = sorted(
        raw[len(MARKER) : len(MARKER) + 8] for raw in _answers(redis_url, namespace).values()
    )
    assert by_key == sorted([_id(KEY_A).encode(), _id(KEY_B).encode()])
    assert not events.seen
    # A dropped: its entry is a miss (logged, an event), never a crash or garbage
    only_b, events = _cache_muxer(make_muxer, redis_url, namespace, [KEY_B])
    again = await only_b.acomplete(SECRET, model=MINI)
    assert again.cache == "miss"
    assert (
        "decrypt.failed",
        {"component": "cache", "what": "cache entry", "reason": "unknown_key"},
    ) in events.seen
    assert (await only_b.acomplete(SECRET, model=MINI)).cache == "exact"  # stored again under B


async def test_a_tampered_or_clear_entry_is_a_miss_with_encryption_on(
    make_muxer: MakeMuxer, redis_url: str, namespace: str
) -> None:
    muxer, events = _cache_muxer(make_muxer, redis_url, namespace, [KEY_A])
    await muxer.acomplete(SECRET, model=MINI)
    client = redis.Redis.from_url(redis_url)
    ((name, raw),) = _answers(redis_url, namespace).items()
    client.set(name, raw[:-12] + b"AAAAAAAAAAAA")
    assert (await muxer.acomplete(SECRET, model=MINI)).cache == "miss"
    assert events.seen[-1][1]["reason"] == "tampered"
    # an entry in clear (written before encryption was on) is not served either
    clear = Encryptor([KEY_A]).decrypt(client.get(name))  # type: ignore[arg-type]
    client.set(name, clear)
    client.close()
    assert (await muxer.acomplete(SECRET, model=MINI)).cache == "miss"
    assert events.seen[-1][1]["reason"] == "malformed"
    # and an encrypted entry read with encryption off is a plain miss
    plain, _ = _cache_muxer(make_muxer, redis_url, namespace, [])
    assert (await plain.acomplete(SECRET, model=MINI)).cache == "miss"


async def test_semantic_entries_keep_a_keyed_digest_not_the_prompts_names(
    make_muxer: MakeMuxer, redis_url: str, namespace: str
) -> None:
    muxer, _ = _cache_muxer(
        make_muxer,
        redis_url,
        namespace,
        [KEY_A],
        semantic=True,
        redis_vector_search="client",
    )
    prompt = 'What is the population of Ouagadougou in "Burkina Faso"?'
    assert (await muxer.acomplete(prompt, model=MINI, temperature=0)).cache == "miss"
    similar = await muxer.acomplete(prompt.rstrip("?"), model=MINI, temperature=0)
    assert similar.cache == "semantic"
    client = redis.Redis.from_url(redis_url)
    try:
        (stream,) = list(client.scan_iter(match=f"{namespace}:s:*"))
        entries = client.xrange(stream)
    finally:
        client.close()
    assert entries
    for _, fields in entries:
        signature = fields[b"g"]
        assert len(signature) == 32
        assert b"ouagadougou" not in signature.lower()
        assert b"burkina" not in signature.lower()
    for raw in _answers(redis_url, namespace).values():
        assert b"Ouagadougou" not in raw


# -- the ledger's outbox -------------------------------------------------------------------------


def _orphan(directory: Path, encryptor: Encryptor | None, *request_ids: str) -> Path:
    """A segment left by a process that died after appending these records (with prompts)."""
    outbox = Outbox(directory, encryptor)
    for request_id in request_ids:
        record = make_record(request_id)
        prompt = f"{SECRET} ({request_id})"
        outbox.append(outbox.encode(record, prompt), (record, prompt))
    segment = outbox._current
    segment.release()  # the process is gone: its lock with it
    return segment.path


def test_outbox_lines_are_encrypted_and_replayed_across_a_rotation(tmp_path: Path) -> None:
    settings = sqlite_settings(tmp_path, store_prompts=True)
    outbox = settings.resolved_outbox_dir()
    path = _orphan(outbox, Encryptor([KEY_A]), "request-one-0001", "request-two-0002")
    raw = path.read_bytes()
    assert raw.count(b"\n") == 2
    assert all(line.startswith(MARKER) for line in raw.splitlines())
    assert b"Zoltan" not in raw
    assert b"request-one-0001" not in raw  # the record itself is encrypted too
    with CostLedger(settings, encryptor=Encryptor([KEY_B, KEY_A])) as ledger:
        assert ledger.flush()
        ledger.record_feedback("request-one-0001", 1.0)
        (row,) = ledger.training_rows()
        assert row.prompt == f"{SECRET} (request-one-0001)"  # decrypted for training
    rows = {r["request_id"]: r for r in fetch_rows(settings.resolved_url())}
    assert set(rows) == {"request-one-0001", "request-two-0002"}
    assert not path.exists()
    # the prompts in the database: encrypted under the current key
    assert all(r["prompt"].startswith("mmx1:" + _id(KEY_B)) for r in rows.values())
    assert not (outbox / QUARANTINE).exists()


def test_an_outbox_line_under_a_dropped_key_is_quarantined_not_lost(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = sqlite_settings(tmp_path)
    outbox = settings.resolved_outbox_dir()
    locked = _orphan(outbox, Encryptor([KEY_A]), "a1", "a2")
    _orphan(outbox, None, "clear1")  # written before encryption was on: replayed as it is
    _orphan(outbox, Encryptor([KEY_B]), "b1")
    errors = caplog.at_level(logging.ERROR, logger="modelmuxer.ledger")
    with errors, CostLedger(settings, encryptor=Encryptor([KEY_B])) as ledger:
        assert ledger.flush()
    assert {r["request_id"] for r in fetch_rows(settings.resolved_url())} == {"clear1", "b1"}
    kept = outbox / QUARANTINE / locked.name
    assert kept.read_bytes().count(b"\n") == 2
    message = " ".join(r.getMessage() for r in caplog.records)
    assert _id(KEY_A) in message
    assert "encryption.keys" in message
    assert str(kept) in message
    # the key back, the file back: replayed
    kept.rename(outbox / locked.name)
    with CostLedger(settings, encryptor=Encryptor([KEY_B, KEY_A])) as ledger:
        assert ledger.flush()
    ids = {r["request_id"] for r in fetch_rows(settings.resolved_url())}
    assert ids == {"clear1", "b1", "a1", "a2"}


def test_an_encrypted_outbox_without_encryption_is_kept_with_a_clear_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = _orphan(tmp_path, Encryptor([KEY_A]), "x1")
    with caplog.at_level(logging.ERROR, logger="modelmuxer.ledger"):
        assert read_segment(path) == []
    assert (tmp_path / QUARANTINE / path.name).read_bytes() == path.read_bytes()
    message = caplog.records[-1].getMessage()
    assert "encryption is off" in message
    assert "encryption.enabled" in message
    # read again (the database was down): quarantined once, not twice
    read_segment(path)
    assert (tmp_path / QUARANTINE / path.name).read_bytes().count(b"\n") == 1


def test_records_waiting_for_a_down_database_are_encrypted_on_disk(
    make_muxer: MakeMuxer, tmp_path: Path
) -> None:
    outbox = tmp_path / "outbox"
    settings = load_settings(
        ledger={
            "enabled": True,
            "url": "postgresql+asyncpg://postgres@127.0.0.1:1/nowhere",  # nothing listens
            "outbox_dir": str(outbox),
            "store_prompts": True,
            "retry_interval_s": 60,
        },
        encryption={"enabled": True, "keys": [KEY_A]},
    )
    muxer = make_muxer(OFFLINE_MODELS, settings=settings)
    done = muxer.complete(SECRET)
    muxer.close()
    files = list(outbox.glob("*.jsonl"))
    raw = b"".join(f.read_bytes() for f in files)
    assert raw.count(b"\n") >= 1
    assert b"Zoltan" not in raw
    assert done.request_id.encode() not in raw
    entries = [e for f in files for e in read_segment(f, Encryptor([KEY_A]))]
    assert any(prompt and "Zoltan" in prompt for _, prompt in entries)


# -- stored prompts ------------------------------------------------------------------------------


def _db_bytes(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in directory.glob("ledger.db*"))


def test_ledger_prompts_are_encrypted_in_the_database(
    make_muxer: MakeMuxer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ledger = sqlite_settings(tmp_path, store_prompts=True).model_dump(mode="json")
    settings = load_settings(ledger=ledger, encryption={"enabled": True, "keys": [KEY_A]})
    muxer = make_muxer(OFFLINE_MODELS, settings=settings)
    done = muxer.complete(SECRET)
    assert muxer.ledger is not None
    muxer.ledger.record_feedback(done.request_id, 1.0)
    (training,) = muxer.ledger.training_rows()
    assert training.prompt is not None
    assert "Zoltan" in training.prompt
    muxer.close()
    (row,) = fetch_rows(ledger["url"])
    assert row["prompt"].startswith("mmx1:")
    assert "Zoltan" not in row["prompt"]
    assert b"Zoltan" not in _db_bytes(tmp_path)
    # a ledger whose keys do not include the one: the prompt is left out, with an error
    other = CostLedger(load_settings(ledger=ledger).ledger, encryptor=Encryptor([KEY_C]))
    with caplog.at_level(logging.ERROR, logger="modelmuxer.ledger"), other:
        (row_c,) = other.training_rows()
    assert row_c.prompt is None
    assert row_c.request_id == done.request_id
    assert _id(KEY_A) in caplog.records[-1].getMessage()


def test_audit_prompts_are_encrypted_and_the_chain_verifies_without_the_key(
    make_muxer: MakeMuxer, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"
    settings = load_settings(
        audit=audit_settings(url, tmp_path, store_prompts=True).model_dump(mode="json"),
        encryption={"enabled": True, "keys": [KEY_A]},
    )
    muxer = make_muxer(OFFLINE_MODELS, settings=settings)
    muxer.complete(SECRET)
    muxer.close()
    (row,) = fetch_audit(url)
    assert is_encrypted(row["prompt"])
    assert Encryptor([KEY_B, KEY_A]).decrypt_text(row["prompt"]) == SECRET
    assert b"Zoltan" not in _db_bytes(tmp_path)
    assert verify_chain(url).ok
