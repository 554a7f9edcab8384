"""Print the part of requirements.lock that the service needs at run time.

The lock pins the dev extra too (pytest, mypy, moto, playwright...), which a production image
has no use for. `uv pip compile` notes under each pin which packages pulled it in (`# via`), so
the runtime set is the closure of pyproject.toml's own `dependencies` over those notes: a pin
is kept when one of the packages it came in for is kept. The pins are printed as they stand,
hashes included, so `pip install --require-hashes` checks them as it would the whole lock.

Usage (the Dockerfile's build stage): python3 deploy/runtime_requirements.py \
    requirements.lock pyproject.toml > runtime.lock
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

PROJECT_SELF = "headshots (pyproject.toml)"


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    if match is None:
        raise ValueError(f"cannot read a package name in {requirement!r}")
    return normalized(match.group(1))


def parse_lock(text: str) -> dict[str, tuple[list[str], set[str]]]:
    """Each pin's name -> (its lines, the names of the packages it came in for)."""
    pins: dict[str, tuple[list[str], set[str]]] = {}
    current: str | None = None
    in_via = False
    for line in text.splitlines():
        if line and not line[0].isspace() and not line.startswith("#"):
            current = requirement_name(line.split("==", 1)[0])
            pins[current] = ([line], set())
            in_via = False
        elif current is None:
            continue
        elif line.startswith("    --hash="):
            pins[current][0].append(line)
        elif line.strip().startswith("# via"):
            rest = line.strip()[len("# via"):].strip()
            in_via = not rest
            if rest:
                pins[current][1].add(rest)
        elif in_via and line.strip().startswith("#   "):
            pins[current][1].add(line.strip()[len("#   "):].strip())
        else:
            in_via = False
    return pins


def runtime_pins(lock_text: str, pyproject_text: str) -> list[str]:
    pins = parse_lock(lock_text)
    dependencies = tomllib.loads(pyproject_text)["project"]["dependencies"]
    wanted = {requirement_name(dependency) for dependency in dependencies}
    missing = wanted - pins.keys()
    if missing:
        raise ValueError(f"pyproject.toml's dependencies not in the lock: {sorted(missing)}")
    kept = set(wanted)
    changed = True
    while changed:
        changed = False
        for name, (_, via) in pins.items():
            parents = {normalized(parent) for parent in via if parent != PROJECT_SELF}
            if name not in kept and parents & kept:
                kept.add(name)
                changed = True
    lines: list[str] = []
    for name, (pin_lines, _) in pins.items():
        if name in kept:
            lines.extend(pin_lines)
    return lines


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    print("\n".join(runtime_pins(Path(argv[1]).read_text(), Path(argv[2]).read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
