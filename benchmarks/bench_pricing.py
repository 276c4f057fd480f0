"""Price lookup costs: import, table load, first and cached lookups, against genai-prices' calc_price.

    python benchmarks/bench_pricing.py

Each figure is measured in a fresh interpreter where it matters (imports, first loads).
"""

from __future__ import annotations

import subprocess
import sys
import time

_FRESH = """
import time
t = time.perf_counter()
{stmt}
print((time.perf_counter() - t) * 1000)
"""


def fresh_ms(stmt: str, setup: str = "") -> float:
    runs = []
    for _ in range(3):
        code = setup + "\n" + _FRESH.format(stmt=stmt)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        runs.append(float(out.stdout.strip().splitlines()[-1]))
    return min(runs)


def per_call_us(fn: object, n: int = 20000) -> float:
    call = fn  # type: ignore[assignment]
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(n):
            call()  # type: ignore[operator]
        best = min(best, (time.perf_counter() - t) / n * 1e6)
    return best


def main() -> None:
    pre = "import agentops_otel.semconv, opentelemetry.trace"
    print(f"import agentops_otel.pricing            {fresh_ms('import agentops_otel.pricing', pre):8.2f} ms")
    load = "from agentops_otel.pricing import _table; _table.shipped()"
    print(
        f"read prices.json (first lookup, once)   {fresh_ms(load, pre + '; import agentops_otel.pricing'):8.2f} ms"
    )
    gp = "import genai_prices; from genai_prices import data_snapshot; data_snapshot.get_snapshot()"
    print(f"import genai-prices' data (baseline)    {fresh_ms(gp):8.2f} ms")
    convert = "from agentops_otel.pricing import _table; _table.from_genai_prices(only=_table.PROVIDERS)"
    print(f"convert installed genai-prices (bg)     {fresh_ms(convert, pre):8.2f} ms")

    from agentops_otel import pricing
    from agentops_otel.pricing import _table

    table = _table.shipped()
    t = time.perf_counter()
    table.find("openai", "gpt-4o-mini-2024-07-18")
    print(f"first lookup of a model (table scan)    {(time.perf_counter() - t) * 1e6:8.1f} us")
    pricing.cost_usd("gpt-4o-mini-2024-07-18", 1000, 100, 200, provider="openai")
    ours = per_call_us(lambda: pricing.cost_usd("gpt-4o-mini-2024-07-18", 1000, 100, 200, provider="openai"))
    print(f"cost_usd, cached (hot path)             {ours:8.2f} us")

    import genai_prices

    usage = genai_prices.Usage(input_tokens=1000, output_tokens=100, cache_read_tokens=200)
    theirs = per_call_us(
        lambda: genai_prices.calc_price(usage, "gpt-4o-mini-2024-07-18", provider_id="openai"), n=500
    )
    print(f"genai_prices.calc_price (baseline)      {theirs:8.2f} us   ratio {theirs / ours:6.0f}x")


if __name__ == "__main__":
    main()
