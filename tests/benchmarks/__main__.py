"""Runs the benchmarks: ``python -m tests.benchmarks [name ...]`` (names like ``store``, ``core``).

Each ``bench_<name>.py`` here has a ``main(argv)`` that measures its part together with a
baseline in the same run and prints a table. Figures are measured, never asserted.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time

import tests.benchmarks as package


def available() -> list[str]:
    return sorted(
        m.name.removeprefix("bench_") for m in pkgutil.iter_modules(package.__path__) if m.name.startswith("bench_")
    )


def main(argv: list[str]) -> int:
    names = [a for a in argv if not a.startswith("-")] or available()
    unknown = sorted(set(names) - set(available()))
    if unknown:
        print(f"unknown benchmark(s) {', '.join(unknown)}; available: {', '.join(available())}", file=sys.stderr)
        return 2
    failed = 0
    for name in names:
        print(f"\n## {name}\n", flush=True)
        started = time.perf_counter()
        module = importlib.import_module(f"tests.benchmarks.bench_{name}")
        try:
            result = module.main([])
        except Exception as exc:  # one broken benchmark must not hide the others' figures
            print(f"benchmark {name} failed: {exc!r}", file=sys.stderr)
            failed += 1
            continue
        failed += 1 if result else 0
        print(f"\n({name}: {time.perf_counter() - started:.1f} s)", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
