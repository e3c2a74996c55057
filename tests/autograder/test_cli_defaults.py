"""Does every command-line default come from the API function the command forwards to?

The keyword-only API functions hold every default once; a default repeated in the CLI drifts (``grade
--executor dask`` once passed 1 worker where the API said 2). Each command's options are compared with the
keyword defaults of the functions it calls, so the two cannot disagree again.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import click
import pytest

from autograder import api, cli
from autograder.collect_results import collect_results
from autograder.executors import grade_dask, grade_one
from autograder.k8s import write_manifests
from autograder.platforms.gradescope import write_zip
from autograder.platforms.prairielearn import write_grader

# command -> the API functions it forwards to, each with the CLI's parameter names it renames.
FORWARDS: dict[str, list[tuple[Callable[..., object], dict[str, str]]]] = {
    "grade": [(api.grade, {}), (grade_dask, {"workers": "local_workers"})],
    "grade-one": [(grade_one, {})],
    "k8s": [(write_manifests, {})],
    "collect": [(collect_results, {})],
    "similarity": [(api.similarity, {})],
    "check": [(api.check, {})],
    "export": [(api.export, {"fmt": "format"})],
    "review": [(api.review, {})],
    "gradescope": [(write_zip, {})],
    "prairielearn": [(write_grader, {})],
}
# Options that choose between API functions or shape the call, with no API keyword of their own.
CLI_ONLY = {("grade", "executor"), ("review", "clear")}


def options(command: str) -> list[click.Option]:
    """The options (not arguments) of a command."""
    return [p for p in cli.main.commands[command].params if isinstance(p, click.Option) and p.name != "help"]


def omitted(command: str) -> dict[str, object]:
    """What the command hands its function for every option a user leaves out (only required ones given)."""
    group = cli.main.commands[command]
    args = ["x" for p in group.params if isinstance(p, click.Argument)]
    for option in options(command):
        if option.required:
            args += [option.opts[0], "x"]
    return dict(group.make_context(command, args).params)


@pytest.mark.parametrize("command", sorted(FORWARDS))
def test_every_option_default_is_the_api_default(command, monkeypatch):
    monkeypatch.delenv("AUTOGRADER_SANDBOX", raising=False)
    given = omitted(command)
    for option in options(command):
        if option.required or (command, option.name) in CLI_ONLY:
            continue
        for function, renamed in FORWARDS[command]:
            keyword = renamed.get(option.name, option.name)
            parameter = inspect.signature(function).parameters.get(keyword)
            if parameter is None or parameter.default is inspect.Parameter.empty:
                continue
            assert given[option.name] == parameter.default, (
                f"{command} --{option.name}: the CLI passes {given[option.name]!r}, "
                f"{function.__module__}.{function.__name__}({keyword}=...) says {parameter.default!r}"
            )


@pytest.mark.parametrize("command", sorted(FORWARDS))
def test_every_option_has_an_api_keyword(command):
    """An option no API function takes would hold a default of its own: every one is forwarded."""
    for option in options(command):
        if (command, option.name) in CLI_ONLY:
            continue
        names = {renamed.get(option.name, option.name) for _function, renamed in FORWARDS[command]}
        keywords = {k for function, _r in FORWARDS[command] for k in inspect.signature(function).parameters}
        assert names & keywords, f"{command} --{option.name} reaches no API keyword ({sorted(keywords)})"


def test_every_command_is_checked():
    assert set(cli.main.commands) - set(FORWARDS) <= {"release", "report", "formgrader"}  # no options
    for command in ("release", "report", "formgrader"):
        assert not options(command)


def test_grade_workers_is_one_default_for_the_pool_and_a_local_dask_cluster():
    pool = inspect.signature(api.grade).parameters["workers"].default
    dask = inspect.signature(grade_dask).parameters["local_workers"].default
    assert pool == dask == api.DEFAULT_WORKERS
