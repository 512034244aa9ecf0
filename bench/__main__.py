"""Run every benchmark package in bench/ (or the ones named on the command line), one after another."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent


# Long runs that `python -m bench` skips unless named: the soak lasts about 20 minutes (`make soak`).
LONG_RUNS = {"soak"}


def available() -> list[str]:
    return sorted(path.parent.name for path in BENCH_DIR.glob("*/__main__.py"))


def main(argv: list[str]) -> int:
    if any(arg.startswith("-") for arg in argv):
        print(f"usage: python -m bench [NAME ...]   (available: {', '.join(available())})")
        return 0 if argv in (["-h"], ["--help"]) else 2
    names = argv or [name for name in available() if name not in LONG_RUNS]
    unknown = sorted(set(names) - set(available()))
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available())}")
        return 2
    failed = []
    for name in names:
        print(f"\n=== bench.{name}", flush=True)
        result = subprocess.run([sys.executable, "-m", f"bench.{name}"], cwd=BENCH_DIR.parent, check=False)
        if result.returncode != 0:
            failed.append(name)
    print(
        f"\n{len(names) - len(failed)} of {len(names)} benchmark(s) met their targets"
        + (f"; missed or failed: {', '.join(failed)}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
