"""One session across a parent and its worker processes (fork or spawn).

python examples/multiprocess.py && agentops-otel sessions show <printed id>
"""

from __future__ import annotations

import multiprocessing

import agentops_otel


@agentops_otel.tool
def square(n: int) -> int:
    return n * n


if __name__ == "__main__":
    session_id = agentops_otel.init(tags=["example", "processes"])
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        print(pool.map(square, range(4)))  # the workers join the session and flush before they exit
    agentops_otel.end_session()
    print("session", session_id)
