"""Same book, same bytes: build a fixed synthetic book's published outputs with two revisions of
the code and compare them file by file.

    python scripts/compare_outputs.py build REV OUT   # synth + backfill with the code at git REV
    python scripts/compare_outputs.py compare A B     # every published file of A equals B's

The book: 5,000 loans over 30 days (2026-01-01 .. 2026-01-30) with events and contacts, seed 7.
Compared: every file under ``lake/`` and ``extracts/``, the risk reports and the run manifests.
Not compared: the validation pages GX renders (``reports/validation``, ``reports/D/validation``),
which carry the wall-clock time of the validation run and random element ids.
In JSON manifests the fields that name the code and the policy files (``code_version``,
``config_hash``) are set aside, and so is a manifest's sha256 of another manifest (which hashes
those fields): a refactoring changes them without changing a published value.
Exit status 1 and one line per difference when anything differs.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

START, END, LOANS, SEED = "2026-01-01", "2026-01-30", 5_000, 7
PUBLISHED = ("lake", "extracts", "reports", "runs/*/manifest.json")
SET_ASIDE = {"code_version", "config_hash", "execution"}


def build(rev: str, out: Path) -> None:
    """Synth the book and backfill it with the code of ``rev`` (a detached worktree)."""
    repo = Path(__file__).resolve().parents[1]
    out = out.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "tree"
        subprocess.run(["git", "-C", repo, "worktree", "add", "--detach", tree, rev], check=True)
        try:
            env = {"PYTHONPATH": str(tree / "src"), "PATH": "/usr/bin:/bin"}
            cli = [sys.executable, "-m", "loanrisk.cli"]
            shipped = tree / "src" / "loanrisk" / "project" / "config"  # config/ before issue 23
            config = ["--config", str(shipped if shipped.is_dir() else tree / "config")]
            days = ["--days", "30", "--loans", str(LOANS), "--seed", str(SEED)]
            synth = [*cli, "synth", "--start", START, *days, "--out", str(out / "landing")]
            run = [*cli, "backfill", "--start", START, "--end", END, "--data-root", str(out)]
            for command in (synth + config, run + config):
                subprocess.run(command, check=True, cwd=tree, env=env)
        finally:
            subprocess.run(["git", "-C", repo, "worktree", "remove", "--force", tree], check=True)


def _without(value):
    if isinstance(value, dict):
        # a manifest's hash of another manifest hashes those fields too: that file is compared
        # itself, with them set aside
        of_manifest = str(value.get("path", "")).endswith("manifest.json")
        aside = SET_ASIDE | ({"sha256"} if of_manifest else set())
        return {k: _without(v) for k, v in value.items() if k not in aside}
    if isinstance(value, list):
        return [_without(v) for v in value]
    return value


def digest(path: Path) -> str:
    data = path.read_bytes()
    if path.name == "manifest.json":
        data = json.dumps(_without(json.loads(data)), sort_keys=True).encode()
    return hashlib.sha256(data).hexdigest()


def published(root: Path) -> dict[str, str]:
    files = {}
    for pattern in PUBLISHED:
        for path in sorted(root.glob(pattern)):
            for file in [path] if path.is_file() else sorted(path.rglob("*")):
                if file.is_file() and not {"_tmp", "validation"} & set(file.parts):
                    files[str(file.relative_to(root))] = digest(file)
    return files


def compare(a: Path, b: Path) -> int:
    left, right = published(a), published(b)
    differences = [f"only in {a}: {n}" for n in sorted(left.keys() - right.keys())]
    differences += [f"only in {b}: {n}" for n in sorted(right.keys() - left.keys())]
    differences += [
        f"differs: {n}" for n in sorted(left.keys() & right.keys()) if left[n] != right[n]
    ]
    for line in differences:
        print(line)
    same = len(left.keys() & right.keys()) - sum(d.startswith("differs") for d in differences)
    print(f"{same} of {len(left.keys() | right.keys())} published files identical")
    return 1 if differences else 0


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "build":
        build(args[0], Path(args[1]))
    elif command == "compare":
        sys.exit(compare(Path(args[0]), Path(args[1])))
    else:
        sys.exit(f"unknown command {command!r}: build REV OUT | compare A B")
