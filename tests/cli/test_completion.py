"""Shell completion: the script for each shell, command and flag names, and SPEC as the zoo's names."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import groupcost


def complete(words: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """What bash's completion function asks groupcost for `words` (the cursor after the last word)."""
    env = {**os.environ, "_GROUPCOST_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(len(words.split()) - 1),
           **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "groupcost"], capture_output=True, text=True, env=env, check=False)


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_show_completion_prints_the_shells_script(shell):
    """The shell named, not the one typer detects among the process's parents (none where the tests run detached)."""
    env = {**os.environ, "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
    result = subprocess.run([sys.executable, "-m", "groupcost", "--show-completion", shell], capture_output=True, text=True, check=False, env=env)
    assert result.returncode == 0, result.stderr
    assert "_GROUPCOST_COMPLETE" in result.stdout and "groupcost" in result.stdout


def test_help_names_the_completion_flags(cli):
    text = cli("--help").stdout
    assert "--install-completion" in text and "--show-completion" in text


def test_commands_flags_and_zoo_names_complete():
    assert complete("groupcost ana").stdout.split() == ["analyze"]
    assert {"--depth", "--device"} <= set(complete("groupcost analyze resnet18 --de").stdout.split())
    names = complete("groupcost whatif resn").stdout.split()
    assert names == sorted(n for n in groupcost.zoo_names() if n.startswith("resn")) and "resnext50_32x4d" in names
