"""How masking scales: long runs (must grow linearly) and 100k real-shaped lines.

    python -m bench.mask_scaling

Masks runs of 10, 20, 40 and 80 kB of each shape that once backtracked (hex letters, mixed
tokens, dotted words) and prints each time with its ratio to the one before (about 2 is linear,
about 4 quadratic); then masks 100k lines shaped like a chat backend's (the ids vary per line) with
`mask` and with polars' `mask_expr`. One run on a shared machine: read the ratios.
"""

from __future__ import annotations

import random
import time

import polars as pl

from fivewhys.ids import mask, mask_expr

RUNS = {
    "hex letters": "abcdef",
    "mixed tokens": "a1b2c3_d4-e5.",
    "dotted words": "a.",
    "jwt-like": "eyJ-",
    "colons": "a:b:",
}

LINES = [
    "Factory SSOT validation failed: UserExecutionContext mismatch for ws_staging-_{n}_{h} "
    "(user usr_{h}, thread None)",
    '10.8.{a}.{b}:52114 - "GET /ws HTTP/1.1" 403',
    "GET /api/threads/{h} 200 0.0{a}s python-httpx/0.28.1",
    '{{"level":50,"time":{n},"hostname":"chat-backend-7d9f8b6c5-x{a}q","msg":"auth rejected"}}',
    "WebSocket connection closed 1011 for conn_{h} after {a}ms",
    "Session ready for qa-bot-{a} at 2025-09-07T15:39:{b:02d}.123Z on chat-00042-xaz",
]


def _seconds(work: object, *args: object) -> float:
    started = time.perf_counter()
    work(*args)  # type: ignore[operator]
    return time.perf_counter() - started


def main() -> None:
    for name, unit in RUNS.items():
        previous = 0.0
        cells = []
        for kb in (10, 20, 40, 80):
            took = _seconds(mask, unit * (kb * 1000 // len(unit)))
            ratio = f" (x{took / previous:.2f})" if previous else ""
            cells.append(f"{kb} kB {took * 1000:.0f} ms{ratio}")
            previous = took
        print(f"{name:>13}: " + ", ".join(cells))
    rng = random.Random(7)
    lines = [
        rng.choice(LINES).format(
            n=1757362867 + i, h=f"{rng.getrandbits(48):012x}", a=rng.randrange(256), b=i % 60
        )
        for i in range(100_000)
    ]
    python = _seconds(lambda: [mask(line) for line in lines])
    column = pl.Series(lines).to_frame("t")
    vectorized = _seconds(lambda: column.select(mask_expr(pl.col("t"))))
    templates = len({mask(line) for line in lines})
    print(f"100k lines: mask {python:.2f} s, mask_expr {vectorized:.2f} s, {templates} templates")


if __name__ == "__main__":
    main()
