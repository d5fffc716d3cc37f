"""Access policies and the audit log: who may use which models, and a tamper-evident record of
every request.

Offline by default (the offline backend answers at real models' prices); the audit log is a
SQLite file in a temporary folder, chained with an HMAC key made up for the run. A bearer token
(a JWT) says who asks; policies decide which models that caller may use; every request, refused
ones included, gets one entry in the log; `modelmuxer audit verify` names the row an intruder
changed.

    uv run python examples/policies_audit.py
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import tempfile
import time
from pathlib import Path

import jwt

from modelmuxer import Muxer, NoEligibleModel
from modelmuxer.cli import main as modelmuxer_cli
from modelmuxer.config import load_settings
from modelmuxer.policies import identity_from_jwt

MODELS = [
    "offline/openai/gpt-4o-mini",
    "offline/openai/gpt-4o",
    "offline/anthropic/claude-sonnet-4-5",
]
FOLDER = Path(tempfile.mkdtemp(prefix="modelmuxer-example-"))
DATABASE = FOLDER / "ledger.db"
URL = f"sqlite+aiosqlite:///{DATABASE}"
AUDIT_KEY = secrets.token_hex(32)  # in production: a secret of the deployment, not the database
TOKEN_SECRET = secrets.token_hex(32)  # the identity provider's signing secret (HS256 here)
HARD = "Prove that there are infinitely many primes, and explain each step."

POLICIES = {
    "rules": [
        {
            "name": "interns",
            "description": "interns use the economy tier",
            "match": {"roles": ["intern"]},
            "allow_tiers": ["economy"],
        },
        {
            "name": "pii-stays-with-openai",
            "description": "requests with personal data go to the provider we have a DPA with",
            "match": {"pii": True},
            "allow_providers": ["openai"],
        },
        {
            "name": "acme-spend",
            "match": {"orgs": ["acme"]},
            "unless": {"roles": ["admin"]},
            "max_cost_usd": 0.002,
        },
    ]
}


def token_for(user: str, org: str, role: str) -> str:
    """What the identity provider would hand the caller."""
    claims = {"sub": user, "org": org, "role": role, "exp": int(time.time()) + 300}
    return jwt.encode(claims, TOKEN_SECRET, algorithm="HS256")


def ask(muxer: Muxer, who: str, prompt: str, **kwargs: object) -> None:
    try:
        answer = muxer.complete(prompt, **kwargs)
    except NoEligibleModel as refused:
        print(f"{who:<34} refused:")
        for model, why in refused.exclusions.items():
            print(f"{'':<36}{model}: {why}")
        return
    print(f"{who:<34} -> {answer.model} (${answer.cost_usd:.6f})")


def main() -> None:
    settings = load_settings(
        models=MODELS,
        load_entrypoints=False,
        policies=POLICIES,
        audit={"enabled": True, "url": URL, "hmac_key": AUDIT_KEY, "hmac_key_env": None},
    )
    with Muxer(settings=settings) as muxer:
        intern = identity_from_jwt(
            token_for("ivy", "initech", "intern"), key=TOKEN_SECRET, algorithms=["HS256"]
        )
        staff = identity_from_jwt(
            token_for("sam", "initech", "staff"), key=TOKEN_SECRET, algorithms=["HS256"]
        )
        print("Who may use which model:")
        ask(muxer, "staff, hard question", HARD, identity=staff, strategy="quality_first")
        ask(muxer, "intern, hard question", HARD, identity=intern, strategy="quality_first")
        ask(muxer, "intern, pinned to gpt-4o", HARD, identity=intern, model=MODELS[1])
        ask(muxer, "staff, request tagged pii", HARD, identity=staff, tags=["pii"])
        acme = {"user": "ann", "org": "acme", "role": "dev"}
        ask(muxer, "acme dev, no max_tokens", HARD, identity=acme)
        ask(muxer, "acme dev, max_tokens=200", HARD, identity=acme, max_tokens=200)
        ask(muxer, "acme admin, no max_tokens", HARD, identity={**acme, "role": "admin"})
        try:
            identity_from_jwt(
                token_for("eve", "initech", "admin"), key="x" * 32, algorithms=["HS256"]
            )
        except Exception as refused:
            print(f"{'a token signed with another key':<34} {refused}")

    print("\nThe audit log (one row per request, refusals included, no prompt text):")
    with sqlite3.connect(DATABASE) as db:
        for seq, user, role, model, outcome, cost in db.execute(
            "SELECT seq, user, role, model, outcome, cost_usd FROM audit_log ORDER BY seq"
        ):
            usd = cost / 1e12  # SQLite keeps the ledger's money as integer pico-dollars
            print(f"  {seq:>2} {user:<4} {role:<6} {outcome:<6} {model or '-':<40} ${usd:.6f}")

    os.environ["EXAMPLE_AUDIT_KEY"] = AUDIT_KEY
    verify = ["audit", "verify", "--url", URL, "--hmac-key-env", "EXAMPLE_AUDIT_KEY"]
    print("\n$ modelmuxer audit verify ...")
    modelmuxer_cli(verify)
    print("\nAn intruder halves the cost of row 2...")
    with sqlite3.connect(DATABASE) as db:
        db.execute("UPDATE audit_log SET cost_usd = cost_usd / 2 WHERE seq = 2")
    print("$ modelmuxer audit verify ...")
    code = modelmuxer_cli(verify)
    print(f"(exit code {code})")
    assert code == 1


if __name__ == "__main__":
    main()
