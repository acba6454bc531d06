"""HTTP throughput for `make bench`: the real server (`ejournal serve`, one uvicorn worker
per core, PostgreSQL) and concurrent clients recording marks through the API, in a
separate client process. Reports marks/s, p50/p99 latency, errors, and the ratio to the
application-layer rate measured in the same run."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from uuid import UUID

import httpx

CLIENTS = 16


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _client(base: str, token: str, work: list[tuple[str, str]],
                  latencies: list[float], errors: list[str]) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
        for lesson_id, student_id in work:
            t0 = time.perf_counter()
            response = await client.post(f"/api/v1/lessons/{lesson_id}/marks",
                                         json={"student_id": student_id, "value": "4"})
            latencies.append(time.perf_counter() - t0)
            if response.status_code != 201:
                errors.append(f"{response.status_code} {response.text[:120]}")


async def _drive(base: str, token: str, plan: list[list[tuple[str, str]]]
                 ) -> dict[str, object]:
    latencies: list[float] = []
    errors: list[str] = []
    start = time.perf_counter()
    await asyncio.gather(*(_client(base, token, work, latencies, errors) for work in plan))
    return {"elapsed": time.perf_counter() - start, "latencies": latencies,
            "errors": errors}


def client_main(argv: list[str]) -> int:
    base, token, plan_file = argv
    plan = json.loads(Path(plan_file).read_text())
    print(json.dumps(asyncio.run(_drive(base, token, plan))))
    return 0


def wait_ready(base: str, token: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            r = httpx.get(base + "/api/v1/me", headers={"Authorization": f"Bearer {token}"},
                          timeout=2)
            if r.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError("the server did not start")


def http_throughput(pg_url: str, key_dir: Path, token: str, lessons: list[UUID],
                    students: list[UUID], per_client: int) -> dict[str, float]:
    """Drives `ejournal serve --workers <cores>` with CLIENTS concurrent clients, each on
    its own lessons (a teacher's lessons: marks of one lesson come from one client)."""
    workers = os.cpu_count() or 2
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "EJOURNAL_DATABASE_URL": pg_url, "EJOURNAL_KEY_DIR": str(key_dir)}
    env.pop("EJOURNAL_OWNER_DATABASE_URL", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--port", str(port), "--workers",
         str(workers)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_ready(base, token)
        per_lesson = len(students)
        needed = -(-per_client // per_lesson)
        plan, warm = [], []
        for k in range(CLIENTS):
            own = lessons[k * (needed + 1):(k + 1) * (needed + 1)]
            warm.append([(str(own[0]), str(s)) for s in students[:4]])
            work = [(str(lesson), str(s)) for lesson in own[1:] for s in students]
            plan.append(work[:per_client])
        results = []
        for p in (warm, plan):  # warm-up: connections, caches, prepared statements
            with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
                json.dump(p, f)
            out = subprocess.run([sys.executable, "-m", "benchmarks.http", "client", base,
                                  token, f.name], capture_output=True, text=True, check=True)
            os.unlink(f.name)
            results.append(json.loads(out.stdout))
        result = results[1]
        lat = sorted(result["latencies"])
        n = len(lat)
        return {"marks": n, "rate": n / result["elapsed"], "p50": statistics.median(lat),
                "p99": lat[min(n - 1, int(n * 0.99))], "errors": len(result["errors"]),
                "workers": workers, "first_error": (result["errors"] or [""])[0]}
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    if sys.argv[1:2] == ["client"]:
        raise SystemExit(client_main(sys.argv[2:]))
    raise SystemExit("usage: python -m benchmarks.http client BASE TOKEN PLAN.json")
