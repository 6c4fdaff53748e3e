"""Every command in the code blocks of README.md and docs/*.md is checked against the tool it calls.

``python train.py ...`` must parse with ``--print_config`` (configs exist, every flag is known); the flags of
``stereosync-*``, ``python -m stereosync.*``, ``python bench/*.py`` and ``python experiments/*.py`` must appear
in that tool's ``--help``. ``srun``, ``torchrun`` (its own options) and leading ``VAR=value`` are stripped first.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path

import pytest

from stereosync.cli import cli_main

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FENCE = re.compile(r"^\s*```")


def code_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, command) of every shell line in fenced and 4-space indented code blocks; continuations
    (trailing backslash) joined."""
    out: list[tuple[int, str]] = []
    fenced, pending, start = False, "", 0
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        indented = not fenced and line.startswith("    ") and line.strip().startswith(("python ", "stereosync-"))
        if not (fenced or indented or pending):
            continue
        text = line.strip()
        start = start or n
        if text.endswith("\\"):
            pending += text[:-1].rstrip() + " "
            continue
        out.append((start, pending + text))
        pending, start = "", 0
    return out


def _strip_launcher(argv: list[str]) -> list[str]:
    while argv and re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", argv[0]):
        argv = argv[1:]
    if argv[:1] == ["srun"]:
        argv = argv[1:]
    if argv[:1] == ["torchrun"]:
        i = next(i for i, a in enumerate(argv) if a.endswith(".py"))
        argv = ["python", *argv[i:]]
    return argv


def commands() -> list[tuple[str, list[str]]]:
    """(where, argv) of every command this test knows how to check."""
    found = []
    for path in DOCS:
        for n, line in code_lines(path):
            for part in re.split(r"\s(?:&&|;)\s", line):
                try:
                    argv = _strip_launcher(shlex.split(part, comments=True))
                except ValueError as err:
                    raise AssertionError(f"{path.name}:{n}: cannot split {part!r}: {err}") from err
                if not argv:
                    continue
                known = argv[0].startswith("stereosync-") or (
                    argv[0] == "python"
                    and len(argv) > 1
                    and (
                        argv[1] == "train.py"
                        or re.fullmatch(r"(bench|experiments)/\w+\.py", argv[1])
                        or (argv[1] == "-m" and argv[2].startswith("stereosync"))
                    )
                )
                if known:
                    found.append((f"{path.relative_to(REPO)}:{n}", argv))
    return found


COMMANDS = commands()


def _tool(argv: list[str]) -> tuple[tuple[str, ...], list[str]]:
    """(the tool's command line, its arguments)."""
    if argv[0].startswith("stereosync-"):
        return (shutil.which(argv[0]) or argv[0],), argv[1:]
    if argv[1] == "-m":
        return (sys.executable, "-m", argv[2]), argv[3:]
    return (sys.executable, str(REPO / argv[1])), argv[2:]


@cache
def _help(tool: tuple[str, ...]) -> str:
    proc = subprocess.run(
        [*tool, "--help"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env=dict(os.environ, HF_HUB_OFFLINE="1"),
    )
    assert proc.returncode == 0, f"{' '.join(tool)} --help failed:\n{proc.stderr[-2000:]}"
    return proc.stdout


def test_the_docs_hold_commands_of_every_kind():
    kinds = {"train": 0, "module": 0, "script": 0, "console": 0}
    for _, argv in COMMANDS:
        if argv[0].startswith("stereosync-"):
            kinds["console"] += 1
        elif argv[1] == "train.py":
            kinds["train"] += 1
        else:
            kinds["module" if argv[1] == "-m" else "script"] += 1
    assert all(kinds.values()), kinds


def test_code_lines_joins_continuations_and_reads_indented_blocks(tmp_path):
    doc = tmp_path / "doc.md"
    block = "```bash\n  python train.py fit \\\n    --config a.yaml\n```\n"
    doc.write_text("text\n\n    python bench/fad.py --n 3\n\n" + block)
    assert code_lines(doc) == [(3, "python bench/fad.py --n 3"), (6, "python train.py fit --config a.yaml")]


@pytest.mark.parametrize(
    ("where", "argv"), [c for c in COMMANDS if c[1][1:2] == ["train.py"]], ids=lambda x: x if isinstance(x, str) else ""
)
def test_train_command_parses(where, argv, monkeypatch, capsys):
    monkeypatch.chdir(REPO)  # the documented paths are relative to the repository
    with pytest.raises(SystemExit) as exit_:
        cli_main([*argv[2:], "--print_config"])
    assert exit_.value.code in (0, None), f"{where}: {' '.join(argv)}\n{capsys.readouterr().err[-2000:]}"


def test_tool_flags_exist_in_the_tools_help():
    tools = [(where, *_tool(argv)) for where, argv in COMMANDS if argv[1:2] != ["train.py"]]
    for tool in {t for _, t, _ in tools}:
        entry = tool[-1]
        assert tool[1:2] == ("-m",) or Path(entry).is_file() or shutil.which(entry), f"{entry} does not exist"
    distinct = sorted({t for _, t, _ in tools})
    with ThreadPoolExecutor(4) as pool:  # the --help runs are independent processes
        helps = dict(zip(distinct, pool.map(_help, distinct)))
    missing = []
    for where, tool, args in tools:
        if "--extra" in args:  # what follows goes to the training CLI as is (argparse.REMAINDER)
            args = args[: args.index("--extra") + 1]
        for flag in (a.split("=", 1)[0] for a in args if a.startswith("--")):
            if not re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", helps[tool]):
                missing.append(f"{where}: {flag} is not an option of {' '.join(tool[1:])}")
    assert not missing, "\n".join(missing)
