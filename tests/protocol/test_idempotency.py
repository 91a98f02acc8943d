"""The ``idempotency_key`` rule and the bounded memory of claimed keys (``KeyMemory``), with time passed in."""

from __future__ import annotations

import pytest

from pusherpy.protocol.idempotency import FIRST, KeyMemory, PublishClaim, idempotency_key_problem


@pytest.mark.parametrize("key", ["a", "order-42", "Az09_.:-" * 16, "tenant:42.order_7"])
def test_keys_of_1_to_128_safe_characters_are_valid(key: str) -> None:
    assert idempotency_key_problem(key) is None


@pytest.mark.parametrize("key", ["", "x" * 129, "a b", "a{b}", "é", "a\n", "a/b", None, 7, b"k"])
def test_other_keys_are_refused_with_a_reason(key: object) -> None:
    problem = idempotency_key_problem(key)
    assert problem is not None
    assert problem.startswith("idempotency_key must be")


def test_a_key_repeats_within_its_window_then_may_be_claimed_again() -> None:
    memory = KeyMemory()
    assert memory.claim("app", "k", 10.0, now=0.0) is FIRST
    assert memory.claim("app", "k", 10.0, now=9.9) == PublishClaim(first=False, reply=None)
    memory.settle("app", "k", '{"serials":{"c":3}}')
    assert memory.claim("app", "k", 10.0, now=9.9) == PublishClaim(first=False, reply='{"serials":{"c":3}}')
    assert memory.claim("app", "k", 10.0, now=10.0) is FIRST, "the window is counted from the first claim"
    assert memory.claim("other-app", "k", 10.0, now=10.0) is FIRST, "keys are per app"


def test_expired_keys_are_dropped_as_new_ones_come() -> None:
    memory = KeyMemory()
    for n in range(100):
        memory.claim("app", f"k{n}", 1.0, now=n * 0.1)
    assert memory.sizes() == {"app": 10}


def test_past_the_cap_the_oldest_key_is_forgotten() -> None:
    memory = KeyMemory(cap=3)
    for n in range(10):
        assert memory.claim("app", f"k{n}", 60.0, now=float(n)) is FIRST
    assert memory.sizes() == {"app": 3}
    assert memory.claim("app", "k9", 60.0, now=10.0).first is False
    assert memory.claim("app", "k6", 60.0, now=10.0) is FIRST, "k6 was forgotten: only k7, k8 and k9 are kept"
    assert memory.sizes() == {"app": 3}


def test_a_released_key_may_be_claimed_again_and_settling_an_unknown_key_claims_nothing() -> None:
    memory = KeyMemory()
    memory.claim("app", "k", 60.0, now=0.0)
    memory.release("app", "k")
    memory.release("nobody", "k")
    assert memory.claim("app", "k", 60.0, now=1.0) is FIRST
    memory.settle("app", "unknown", "{}")
    memory.settle("nobody", "unknown", "{}")
    assert memory.claim("app", "unknown", 60.0, now=1.0) is FIRST
