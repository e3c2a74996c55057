"""One grading worker: what a process needs to grade submissions one after another, as one object.

A :class:`GradingWorker` holds the loaded assignment (the run's timeout applied), how student code is
isolated, the threads its sandboxes may use, the output store it writes to, a fork server (a warm process that
imported the assignment's modules once and forks each sandbox, the student's and the verifier, see
:mod:`autograder.sandbox.forkserver`) and, between submissions, a warm spare sandbox per role (started while
the previous submission's feedback is written, so the next student does not wait for it). Every executor
builds one: the local pool (one per worker process, through :func:`start_process_worker`), the one-worker path
(in-process), each Dask worker, and ``grade-one`` (a Kubernetes pod). Settings reach the sandbox as this
object's fields, passed to :func:`autograder.sandbox.start`.
"""

from __future__ import annotations

import enum
import functools
import multiprocessing.util
import sys
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from autograder import sandbox
from autograder.collect import Submission
from autograder.errors import UsageError
from autograder.pipeline import Graded, fingerprint, grade_submission
from autograder.reports import ERROR_LOG, log_grader_error
from autograder.results import Status, SubmissionResult
from autograder.sandbox import Role
from autograder.source import Assignment, load_assignment
from autograder.steps.execute import prelude_modules
from autograder.steps.feedback import render_failure
from autograder.store import Outcome, OutputStore


class SandboxMode(enum.StrEnum):
    """How a batch treats a machine that cannot isolate student code (``--sandbox``): the grading subset of
    :class:`autograder.sandbox.Mode` (``off`` is only for a student's self-check)."""

    STRICT = "strict"  # refuse to grade
    WARN = "warn"  # grade anyway, loudly


GRADER_FAULT = (
    "the grader failed on this submission ({step}): a fault in the grader, not in the notebook; "
    "the instructor finds the details in {log}"
)


def check_isolation(mode: str) -> sandbox.Isolation:
    """The sandbox settings for ``mode``, checked on this machine now (not in the middle of a batch).

    Raises:
        UsageError: an unknown mode, or strict isolation this machine cannot provide.
    """
    try:
        isolation = sandbox.Isolation(mode, sandbox.default_expose())
        sandbox.resolve(isolation)
    except (ValueError, sandbox.Unavailable) as error:
        raise UsageError(str(error)) from None
    return isolation


def grader_failure(
    submission: Submission, assignment: Assignment, out: Path, step: str, error: BaseException
) -> Graded:
    """The result of a submission the grader itself failed on: logged, failed, never a silent zero."""
    log_grader_error(out, submission.student_id, step, error)
    failed = SubmissionResult(
        submission.student_id,
        Status.FAILED,
        reason=GRADER_FAULT.format(step=step, log=ERROR_LOG),
        lms=submission.lms,
        fingerprint=fingerprint(submission, assignment),
        grader_error=True,
    )
    return Graded(failed, render_failure(failed, assignment=assignment.name), None)


@dataclass(frozen=True)
class WorkerSettings:
    """How to build a worker in another process, as plain values (a spawned pool's initializer gets it).

    Attributes:
        folder: the assignment's source folder.
        root: the course root (its ``nbgrader_config.py`` shapes the source).
        notebook: which of the folder's notebooks (None: the only one).
        timeout: the run's seconds per submission (None: ``autograder.toml``'s).
        out: the output folder the worker stores into.
        sandbox_mode: ``strict`` or ``warn`` (:class:`SandboxMode`).
        threads: threads each of the worker's sandboxes may use.
        keep_warm: start the next submission's sandboxes while storing this one's.
    """

    folder: Path
    root: Path
    notebook: str | None
    timeout: float | None
    out: Path
    sandbox_mode: str
    threads: int
    keep_warm: bool = True


class GradingWorker:
    """Grades submissions of one notebook, one at a time, and stores each outcome (see the module)."""

    def __init__(
        self,
        assignment: Assignment,
        store: OutputStore,
        *,
        isolation: sandbox.Isolation,
        threads: int,
        keep_warm: bool = True,
    ) -> None:
        """A worker for ``assignment`` (its timeout already applied) writing to ``store``.

        Args:
            assignment: the loaded assignment.
            store: where outcomes are stored.
            isolation: how student code is isolated (checked by :func:`check_isolation`).
            threads: threads each sandbox's numerical libraries may use (workers x threads <= cores).
            keep_warm: start the next submission's sandboxes while the previous one is stored.
        """
        self.assignment = assignment
        self.store = store
        self.isolation = isolation
        self.threads = threads
        self.keep_warm = keep_warm
        self._spares: dict[Role, sandbox.Runner] = {}
        self._server: sandbox.ForkServer | None = None
        # A fork server needs namespaces (strict mode, or warn mode where they exist) and the assignment's
        # consent; one that fails to start is reported once and sandboxes then start the plain way.
        self._use_servers = assignment.config.fork_server and sandbox.resolve(isolation) is not None

    @classmethod
    def load(cls, settings: WorkerSettings, assignment: Assignment | None = None) -> GradingWorker:
        """Build a worker for the assignment ``settings`` name: ``assignment`` when the caller has loaded it
        (the run's timeout applied), else loaded here."""
        if assignment is None:
            loaded = load_assignment(settings.folder, root=settings.root, notebook=settings.notebook)
            assignment = loaded.with_timeout(settings.timeout)
        return cls(
            assignment,
            OutputStore(settings.out, assignment.name),
            isolation=sandbox.Isolation(settings.sandbox_mode, sandbox.default_expose()),
            threads=settings.threads,
            keep_warm=settings.keep_warm,
        )

    @property
    def limits(self) -> sandbox.Limits:
        """The limits every submission runs under (the run's timeout applied)."""
        return self.assignment.config.limits

    def preload(self, role: Role) -> tuple[str, ...]:
        """What a sandbox of ``role`` imports before its job: ``preload`` of ``autograder.toml``, then the
        modules the tests' set-up imports (the verifier's; with a fork server also the student's, whose
        notebook's set-up cells import them too, and Keras takes seconds)."""
        preload = self.assignment.config.preload
        if role is Role.VERIFIER or self._use_servers:
            preload = tuple(dict.fromkeys((*preload, *prelude_modules(self.assignment))))
        return preload

    def fork_server(self) -> sandbox.ForkServer | None:
        """The worker's fork server, started on first use (one that stopped is replaced); None where
        sandboxes start the plain way."""
        if not self._use_servers:
            return None
        if self._server is None or not self._server.alive:
            if self._server is not None:
                self._server.close()
            config = self.assignment.config
            self._server = sandbox.ForkServer(
                preload=self.preload(Role.STUDENT),
                isolation=self.isolation,
                env_passthrough=config.env_passthrough,
                threads=self.threads,
            )
        return self._server

    def _new_runner(self, role: Role) -> sandbox.Runner:
        config = self.assignment.config
        start = functools.partial(
            sandbox.start,
            limits=config.limits,
            env_passthrough=config.env_passthrough,
            preload=self.preload(role),
            isolation=self.isolation,
            role=role,
            threads=self.threads,
        )
        try:
            server = self.fork_server()
            return start() if server is None else start(fork_server=server)
        except sandbox.ForkServerError as error:
            self._use_servers = False  # new sandboxes start the plain way
            log_grader_error(self.store.out, "-", "starting the sandboxes' fork server", error)
            print(f"note: autograder: sandboxes start without a fork server ({error})", file=sys.stderr)
            return start()

    def _start_runner(self, role: Role) -> sandbox.Runner:
        spare = self._spares.pop(role, None)
        return spare if spare is not None else self._new_runner(role)

    def _warm_spares(self) -> None:
        for role in Role:
            if role not in self._spares:
                self._spares[role] = self._new_runner(role)

    def grade(self, submission: Submission, *, warm_next: bool | None = None) -> Outcome:
        """Grade one submission, store its outcome, and return it.

        Every step is this student's alone: an exception anywhere (reading, executing, scoring, rendering,
        storing) becomes this student's failed result, logged in ``OUT/grader-errors.log``.

        Args:
            submission: the collected submission.
            warm_next: start the next submission's sandboxes now (default: ``keep_warm``); the last
                submission of a batch passes False.

        Returns:
            The stored outcome (graded, or failed with its reason).
        """
        assignment, out = self.assignment, self.store.out
        try:
            graded = grade_submission(submission, assignment, start_runner=self._start_runner)
        except Exception as error:  # a grader fault: this student fails with a reason, the batch goes on
            graded = grader_failure(submission, assignment, out, "grading", error)
        warm = self.keep_warm if warm_next is None else warm_next
        if warm:
            try:
                self._warm_spares()
            except Exception as error:  # the next submission starts its own sandbox (and fails alone)
                log_grader_error(out, submission.student_id, "starting the next sandbox", error)
                self.close()
        try:
            outcome = Outcome.from_graded(graded)
            self.store.save(outcome)
        except Exception as error:
            outcome = Outcome.from_graded(
                grader_failure(submission, assignment, out, "writing the feedback", error)
            )
            self.store.save(outcome)
        return outcome

    def close(self) -> None:
        """Stop the warm spare sandboxes and the fork server (the worker can still grade: it starts new
        ones)."""
        spares, self._spares = self._spares, {}
        for spare in spares.values():
            spare.close()
        server, self._server = self._server, None
        if server is not None:
            server.close()

    def __enter__(self) -> GradingWorker:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


# The worker of this process when it is one of a local pool's processes (set by the pool's initializer).
_PROCESS_WORKER: list[GradingWorker] = []


def bind_to_process(worker: GradingWorker) -> GradingWorker:
    """Tie ``worker`` to this process: the process dies with its parent (a killed grader takes its workers
    and their sandboxes along), and the worker's spare sandboxes stop when the process exits."""
    sandbox.die_with_parent()
    multiprocessing.util.Finalize(None, worker.close, exitpriority=10)
    return worker


def start_process_worker(settings: WorkerSettings, assignment: Assignment) -> None:
    """Make this process a pool's grading worker (a ``ProcessPoolExecutor`` initializer).

    ``assignment`` is the parent's, loaded once (the run's timeout applied): loading it again would run
    nbgrader's preprocessors, and importing nbgrader costs each worker 0.6 s of CPU it needs for nothing
    else.
    """
    _PROCESS_WORKER[:] = [bind_to_process(GradingWorker.load(settings, assignment))]


def grade_in_process(submission: Submission, warm_next: bool | None = None) -> Outcome:
    """Grade ``submission`` with this process's worker (a pool's task; see :func:`start_process_worker`).

    ``warm_next``: as :meth:`GradingWorker.grade` (the pool passes False for a batch's last jobs, so no
    worker ends its batch importing into sandboxes nothing will use).
    """
    return _PROCESS_WORKER[0].grade(submission, warm_next=warm_next)
