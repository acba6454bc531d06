"""`make fuzz`: Schemathesis against the live API, as CI runs it.

A throw-away deployment on SQLite (temporary database and key directory): `ejournal init`,
`ejournal demo`, `ejournal serve` on a free port. The real ids of the demo (years, groups,
subgroups, disciplines, assignments, students, guardians, staff, lessons, marks,
applications) are read back through the API and given to Schemathesis as dictionaries, so
that most generated requests reach the domain instead of stopping at a 404. Then
Schemathesis runs every operation with a bounded number of examples, once with the
director's token and once with the teacher's, and checks that no response is a 5xx and
that every response matches the OpenAPI document (status code, content type, schema).

Exit status: 0 when both runs pass, 1 otherwise. Options: --max-examples N (per operation,
default 100), --seed N (default fixed, so CI is repeatable), --keep (keep the temporary
directory with the server log and the reports).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
TOKEN_LINE = re.compile(r"^\s*(\w+)\s+(ej_[A-Za-z0-9_-]+)\s*$")
CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
          "response_headers_conformance,response_schema_conformance")
ROLES = ("director", "teacher")
DEFAULT_SEED = 20261204
# Share of generated values replaced by a real id when the parameter has a dictionary:
# the rest stay random (unknown ids, 404 paths).
REAL_ID_SHARE = 0.8


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"{' '.join(args)}: exit {done.returncode}")
    return done.stdout


def get(base: str, path: str, token: str) -> Any:
    request = urllib.request.Request(base + "/api/v1" + path,
                                     headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def wait_for(base: str, server: subprocess.Popen[bytes], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"ejournal serve exited with {server.returncode}")
        try:
            with urllib.request.urlopen(base + "/openapi.json", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("ejournal serve did not start")


def collect_ids(base: str, tokens: dict[str, str]) -> dict[str, list[str]]:
    """Every id a newcomer would look up, read through the API with the director's token."""
    director = tokens["director"]
    ids: dict[str, set[str]] = {k: set() for k in (
        "year", "group", "subgroup", "discipline", "assignment", "student", "guardian",
        "staff", "lesson", "mark", "application", "period", "period_number", "date")}
    people = {role: get(base, "/me", token)["person_id"] for role, token in tokens.items()}
    ids["guardian"].add(people["guardian"])
    ids["student"].add(people["student"])
    ids["staff"].update(people[r] for r in ("director", "deputy", "admin", "teacher", "curator"))
    institution = get(base, "/institution", director)
    ids["date"].add(institution["today"])
    for year in institution["years"]:
        ids["year"].add(year["year_id"])
        ids["date"].update(d for p in year["periods"] for d in (p["starts"], p["ends"]))
        ids["period"].update([str(p["number"]) for p in year["periods"]] + ["year", "exam"])
        ids["period_number"].update(str(p["number"]) for p in year["periods"])
    ids["discipline"].update(d["discipline_id"] for d in institution["disciplines"])
    for ref in institution["groups"]:
        group = get(base, f"/groups/{ref['group_id']}", director)
        ids["group"].add(group["group_id"])
        ids["subgroup"].update(group["subgroups"])
        if group["curator_id"]:
            ids["staff"].add(group["curator_id"])
        ids["student"].update(m["student_id"] for m in group["members"])
        for a in group["assignments"]:
            ids["assignment"].add(a["assignment_id"])
            ids["staff"].add(a["teacher_id"])
            page = get(base, f"/journals/{group['group_id']}/{a['discipline_id']}/1", director)
            lessons = page["lessons"][-5:]
            ids["lesson"].update(lesson["lesson_id"] for lesson in lessons)
            ids["date"].update(lesson["date"] for lesson in lessons)
            wanted = {lesson["lesson_id"] for lesson in lessons}
            for row in page["rows"]:
                for lesson_id, cell in row["cells"].items():
                    if lesson_id in wanted:
                        ids["mark"].update(m["mark_id"] for m in cell["marks"])
    ids["application"].update(a["application_id"] for a in get(base, "/corrections", director)
                              if "application_id" in a)
    return {k: sorted(v) for k, v in ids.items() if v}


# Which dictionary feeds which parameter: path and query parameters by name, body fields
# by their path in the request body.
BINDINGS = {
    "year": ["year_id", "body.year_id"],
    "group": ["group_id", "body.group_id", "body.to_group_id"],
    "subgroup": ["subgroup_id", "body.subgroup_id"],
    "discipline": ["discipline_id", "body.discipline_id"],
    "assignment": ["assignment_id", "body.assignment_id"],
    "student": ["student_id", "body.student_id", "body.student_ids[*]",
                "body.attendance[*].student_id", "body.marks[*].student_id", "body.item_id"],
    "guardian": ["guardian_id"],
    "staff": ["body.teacher_id", "body.curator_id", "body.deputy_id", "body.substitute_id"],
    "lesson": ["lesson_id", "body.record_id"],
    "mark": ["mark_id"],
    "application": ["application_id"],
    "period": ["period", "body.period"],
    "period_number": ["period_number", "body.period_number"],
    "date": ["on", "from", "to", "body.date", "body.effective", "body.starts", "body.ends",
             "body.held_on", "body.order.date", "body.periods[*].starts",
             "body.periods[*].ends"],
}


def toml_string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def write_config(path: Path, ids: dict[str, list[str]]) -> None:
    lines = []
    for name, values in ids.items():
        items = ", ".join(str(int(v)) if name == "period_number" else toml_string(v)
                          for v in values)
        lines += [f"[dictionaries.{name}]", f"values = [{items}]", ""]
    lines.append("[parameters]")
    for name, keys in BINDINGS.items():
        if name not in ids:
            continue
        for key in keys:
            lines.append(f"{toml_string(key)} = {{ dictionary = {toml_string(name)}, "
                         f"probability = {REAL_ID_SHARE} }}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=100)
    parser.add_argument("--seed", type=int, default=int(os.environ.get("FUZZ_SEED",
                                                                       DEFAULT_SEED)))
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="ejournal-fuzz-"))
    env = {**os.environ, "EJOURNAL_DATABASE_URL": f"sqlite:///{work / 'db' / 'e.sqlite3'}",
           "EJOURNAL_KEY_DIR": str(work / "keys")}
    env.pop("EJOURNAL_OWNER_DATABASE_URL", None)
    server: subprocess.Popen[bytes] | None = None
    failed = False
    try:
        run([str(BIN / "ejournal"), "init"], env)
        tokens = {m[1]: m[2] for line in run([str(BIN / "ejournal"), "demo"], env).splitlines()
                  if (m := TOKEN_LINE.match(line))}
        missing = {"director", "deputy", "admin", "teacher", "curator", "student",
                   "guardian"} - tokens.keys()
        if missing:
            raise SystemExit(f"ejournal demo printed no token for {sorted(missing)}")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log = (work / "serve.log").open("wb")
        server = subprocess.Popen(
            [str(BIN / "ejournal"), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT)
        wait_for(base, server)
        ids = collect_ids(base, tokens)
        config = work / "schemathesis.toml"
        write_config(config, ids)
        print(f"fuzz: {base}, real ids: "
              + ", ".join(f"{k} {len(v)}" for k, v in ids.items()), flush=True)
        for role in ROLES:
            started = time.monotonic()
            # One worker: with two, Hypothesis describes strategies by parsing source in
            # several threads at once, which CPython 3.11's AST builder does not survive
            # ("AST constructor recursion depth mismatch", seen in CI).
            st = subprocess.run(
                [str(BIN / "st"), "--config-file", str(config), "run", base + "/openapi.json",
                 "--header", f"Authorization: Bearer {tokens[role]}",
                 "--checks", CHECKS, "--max-examples", str(args.max_examples),
                 "--seed", str(args.seed), "--workers", "1", "--no-color",
                 "--generation-database", "none", "--request-timeout", "30",
                 "--report", "junit", "--report-dir", str(work / f"report-{role}")],
                env=env, check=False, cwd=work)
            print(f"fuzz: {role}: exit {st.returncode} in {time.monotonic() - started:.0f} s",
                  flush=True)
            failed |= st.returncode != 0
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
        if server is not None and (failed or args.keep):
            tail = (work / "serve.log").read_text(errors="replace").splitlines()[-40:]
            print("fuzz: server log (tail):\n" + "\n".join(tail))
        if args.keep or failed:
            print(f"fuzz: kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
