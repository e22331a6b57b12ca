"""`--help` as a new user reads it: every command shows an example that really calls it, and
the top level says where the store is, what --json does and what the exit codes mean."""

from __future__ import annotations

import shlex
from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner

from cli import main


def every_command(
    command: click.Command = main, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from every_command(sub, (*path, name))


COMMANDS = dict(every_command())


def help_of(path: tuple[str, ...]) -> str:
    result = CliRunner().invoke(main, [*path, "--help"], env={"FLERO_LEDGER_DB": None})
    assert result.exit_code == 0, result.output
    return result.output


def examples(text: str) -> list[str]:
    """The command lines under `Example:` (or `Examples:`, `Example, behind a proxy:`...),
    continuation lines joined."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("Example"))
    found: list[str] = []
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        if found and found[-1].endswith("\\"):
            found[-1] = found[-1][:-1] + line.strip()
        else:
            found.append(line.strip())
    return found


def resolve(words: list[str]) -> tuple[tuple[str, ...], click.Command, list[str]]:
    """The command a command line names, and the words after its name."""
    path: tuple[str, ...] = ()
    command: click.Command = main
    while isinstance(command, click.Group) and words and words[0] in command.commands:
        command = command.commands[words[0]]
        path, words = (*path, words[0]), words[1:]
    return path, command, words


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=lambda path: " ".join(path) or "top")
def test_every_commands_help_has_an_example_that_calls_it(path: tuple[str, ...]) -> None:
    text = help_of(path)

    assert "Example" in text
    for line in examples(text):
        assert "flero-ledger " in line, line
        words = shlex.split(line.split("flero-ledger ", 1)[1].split(" | ")[0])
        called, command, rest = resolve(words)
        assert called[: len(path)] == path, f"{line!r} does not call {' '.join(path)}"
        assert not isinstance(command, click.Group), f"{line!r} names no command"
        known = {option for param in command.params for option in param.opts}
        unknown = [word for word in rest if word.startswith("--") and word not in known]
        assert not unknown, f"{line!r}: {' '.join(called)} has no {unknown}"


def test_the_top_level_help_names_the_store_json_and_the_exit_codes() -> None:
    text = help_of(())

    assert "FLERO_LEDGER_DB" in text
    assert "--json" in text and '{"error": {"code"' in text
    exit_codes = text[text.index("Exit codes:") :]
    for code, meaning in (("0", "done"), ("1", "refused"), ("2", "bad input")):
        assert f"{code}  {meaning}" in exit_codes
