"""Users of a bench stack, set up through the API as the app would: a token each, credits
granted by an operator, one uploaded selfie each."""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt
import requests

from bench.harness import BENCH_SECRET
from devstack.processes import REPO_ROOT

OPERATOR_ID = 1


def token_for(user_id: int, *, admin: bool = False) -> str:
    claims: dict[str, object] = {"sub": str(user_id), "exp": int(time.time()) + 4 * 3600}
    if admin:
        claims["role"] = "admin"
    return jwt.encode(claims, BENCH_SECRET, algorithm="HS256")


@dataclass(frozen=True)
class BenchUser:
    user_id: int
    token: str
    image_url: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def make_users(base_url: str, count: int, *, first_id: int = 1000,
               credits: int = 1_000_000) -> list[BenchUser]:
    operator = {"Authorization": f"Bearer {token_for(OPERATOR_ID, admin=True)}"}
    selfie = (REPO_ROOT / "assets" / "sample-selfie.jpg").read_bytes()
    users = []
    with requests.Session() as http:
        for user_id in range(first_id, first_id + count):
            token = token_for(user_id)
            http.post(f"{base_url}/api/admin/users/{user_id}/credits", headers=operator,
                      json={"amount": credits, "reason": "bench"}, timeout=30
                      ).raise_for_status()
            answer = http.post(f"{base_url}/api/uploads", timeout=30,
                               headers={"Authorization": f"Bearer {token}"},
                               files={"image": ("selfie.jpg", selfie, "image/jpeg")})
            answer.raise_for_status()
            users.append(BenchUser(user_id, token, answer.json()["imageUrl"]))
    return users


def ledger_holds(database_url: str) -> tuple[bool, str]:
    """Contract §4: every user's balance is the sum of their ledger, and never negative; and
    every job accepted was charged (one headshot entry per round)."""
    import psycopg2

    connection = psycopg2.connect(database_url)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM users u WHERE u.credits < 0 OR u.credits <> "
                "(SELECT coalesce(sum(amount), 0) FROM credit_histories c "
                "WHERE c.user_id = u.id)")
            off = cursor.fetchone()[0]
            cursor.execute("SELECT count(*) FROM headshot_generations g WHERE NOT EXISTS "
                           "(SELECT 1 FROM credit_histories c WHERE c.generation_id = g.id "
                           "AND c.type = 'headshot')")
            uncharged = cursor.fetchone()[0]
    finally:
        connection.close()
    return off == 0 and uncharged == 0, f"{off} users off their ledger, {uncharged} jobs uncharged"
