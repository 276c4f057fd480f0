"""``bench_inprocess.py bytecodes``: Python bytecodes executed per call, ours against the floors.

On this kind of machine most of what our code costs a call is the interpreter's evaluation loop, so
the bytecodes each function executes (``sys.settrace`` with opcode events) say where ours spends
beyond the same-attributes floor, per function, and do not depend on the machine's load. They leave
out C work (the SDK's and ours alike); ``instructions`` counts that too.
"""

from __future__ import annotations

import collections
import sys
from collections.abc import Callable
from typing import Any

from _inprocess_calls import _Lab

Counts = collections.Counter[str]


def _where(code: Any) -> str:
    name = code.co_filename
    for cut in ("site-packages/", "src/", "benchmarks/"):
        if cut in name:
            name = name.split(cut)[-1]
            break
    return f"{name}:{code.co_name}"


def count(run: Callable[[], Any], calls: int) -> Counts:
    """Bytecodes executed by ``run()`` per call, by function."""
    counts: Counts = collections.Counter()

    def on_call(frame: Any, event: str, arg: Any) -> Any:
        frame.f_trace_opcodes = True
        key = _where(frame.f_code)

        def on_opcode(frame: Any, event: str, arg: Any) -> Any:
            if event == "opcode":
                counts[key] += 1
            return on_opcode

        return on_opcode

    sys.settrace(on_call)
    try:
        run()
    finally:
        sys.settrace(None)
    return collections.Counter({k: v // calls for k, v in counts.items()})


def _cell(lab: _Lab, mode: str, variant: str, calls: int) -> Counts:
    lab.switch(variant)
    if mode == "tool":
        return count(lambda: lab.tools(variant, calls), calls)
    if mode == "async":
        return count(lambda: lab.loop.run_until_complete(lab.async_calls(variant, calls)), calls)
    return count(lambda: lab.sync_calls(mode, variant, calls), calls)


def bytecodes(backend: str, key: str, calls: int, top: int, modes: tuple[str, ...]) -> dict[str, Any]:
    """Per mode: bytecodes the floor and ours add to the uninstrumented call, and the functions where
    ours executes most beyond the floor. Printed, and returned for tests."""
    lab = _Lab(backend, key)
    for mode in modes:
        for variant in ("off", "same", "ours"):
            _cell(lab, mode, variant, 3)  # warm: imports, caches, the first call's price lookup
    report: dict[str, Any] = {}
    print(f"Python bytecodes executed per call ({calls} calls per cell), added over the uninstrumented call")
    for mode in modes:
        off, same, ours = (_cell(lab, mode, v, calls) for v in ("off", "same", "ours"))
        floor_added = sum(same.values()) - sum(off.values())
        ours_added = sum(ours.values()) - sum(off.values())
        ratio = ours_added / floor_added if floor_added > 0 else float("nan")
        print(f"{mode}: same attrs {floor_added:,}  ours {ours_added:,}  ours / same {ratio:.2f}")
        beyond = collections.Counter({k: ours[k] - same.get(k, 0) for k in ours})
        for where, n in beyond.most_common(top):
            if n > 0:
                print(f"  {n:6,}  {where}")
        report[mode] = {"same": floor_added, "ours": ours_added, "beyond": dict(beyond.most_common(top))}
    return report
