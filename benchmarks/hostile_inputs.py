"""How fast and how small is the rejection of hostile specs? Prints figures; asserts nothing.

    python benchmarks/hostile_inputs.py

Every spec of tests/bad_specs/ plus generated worst cases (a billion-laughs alias bomb, 100,000
nested brackets, a 2 MiB file, a 3 MiB file, exponential blocks) is analyzed in a fresh
process; the slowest wall time and the largest peak RSS are what a CI runner would pay.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).parents[1]


def generated(folder: Path) -> list[Path]:
    cases = {
        "laughs.yaml": "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9 if i else ['lol'] * 9)}]\n" for i in range(9)) + "input: [3, 8, 8]\nlayers: [relu]\n",
        "brackets.yaml": "input: [3, 8, 8]\nlayers: " + "[" * 100_000 + "]" * 100_000 + "\n",
        "two_mib.yaml": "input: [3, 8, 8]\nlayers:\n" + "  - relu\n" * 262_000,
        "three_mib.yaml": "input: [3, 8, 8]\nlayers:\n" + "  - relu\n" * 400_000,
        "compact.yaml": "input: [3, 8, 8]\nlayers:\n  " + "- " * 500_000 + "relu\n",
        "long_expression.yaml": "input: [3, 8, 8]\nlayers:\n  - conv: {out: '" + "1+" * 100_000 + "1', k: 1}\n",
    }
    paths = []
    for name, text in cases.items():
        path = folder / name
        path.write_text(text)
        paths.append(path)
    return paths


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        specs = sorted((ROOT / "tests" / "bad_specs").glob("*.yaml")) + generated(Path(tmp))
        rows = []
        for spec in specs:
            start = time.perf_counter()
            child = subprocess.Popen([sys.executable, "-m", "groupcost", "analyze", str(spec)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            _, status, usage = os.wait4(child.pid, 0)
            rows.append((time.perf_counter() - start, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status), spec.name))
    rows.sort(reverse=True)
    print(f"{len(rows)} hostile specs, each in a fresh process (python {sys.version.split()[0]})")
    print(f"exit codes: {sorted({r[2] for r in rows})} (2 = rejected with one located line)")
    print("slowest:")
    for seconds, rss, code, name in rows[:6]:
        print(f"  {seconds * 1000:7.1f} ms  {rss:6.1f} MiB  exit {code}  {name}")
    print(f"largest peak RSS: {max(r[1] for r in rows):.1f} MiB")


if __name__ == "__main__":
    main()
