"""Reading submissions: a folder of student folders, or an LMS download (Canvas zip or folder).

* ``SUBMISSIONS/<student_id>/<ASSIGNMENT>.ipynb``: the student id is the folder name.
* nbgrader's course layout, ``submitted/<student_id>/<assignment>/<notebook>.ipynb`` (``within`` names the
  assignment folder): an assignment may hold several notebooks, each collected by its exact name, so a
  missing one is that notebook's problem.
* Canvas: files named ``<name>[_LATE]_<user_id>_<submission_id>_<uploaded file name>``, where a
  resubmitted file gets a ``-1``, ``-2``… suffix (``hw1_backprop-1.ipynb``). The student id is the Canvas
  user id; the name and ids are kept for the Canvas export.

Every student found becomes a :class:`Submission`; one whose notebook cannot be used carries a
``problem`` (missing, renamed, several notebooks, unsafe zip entry, too large) and is reported as failed.
Zip entries are never extracted by their own path: only regular files whose base name matches the
Canvas pattern are read (size-bounded) and written under the staging folder by a name made here, so
``..``, absolute paths and symlinks cannot escape it; such entries are refused with a reason.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import stat
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from autograder.errors import UsageError
from autograder.results import LmsIdentity

CANVAS_NAME = re.compile(
    r"^(?P<name>[^_/\\]+?)_(?:(?P<late>LATE)_)?(?P<user>\d+)_(?P<submission>\d+)_(?P<file>.+)$"
)
_RESUBMISSION = re.compile(r"^(?P<stem>.+?)(?:-(?P<n>\d+))?(?P<ext>\.ipynb)$", re.IGNORECASE)


@dataclass(frozen=True)
class Submission:
    """One student's submission as found on disk.

    Attributes:
        student_id: who it belongs to.
        notebook: the notebook to grade, when one was found.
        problem: why it cannot be graded, when it cannot.
        lms: identity from the LMS file name, if any.
        notes: remarks that do not stop grading (ignored extra files).
    """

    student_id: str
    notebook: Path | None = None
    problem: str = ""
    lms: LmsIdentity | None = None
    notes: tuple[str, ...] = field(default=())


def grade_ids_in(path: Path | None, max_bytes: int) -> frozenset[str]:
    """The nbgrader grade ids a notebook file holds: a tolerant look (nothing when it cannot be read)."""
    if path is None or path.is_symlink() or not path.is_file() or path.stat().st_size > max_bytes:
        return frozenset()
    try:
        data = json.loads(path.read_bytes().decode("utf-8-sig"))
    except (ValueError, UnicodeDecodeError, RecursionError, OSError):
        return frozenset()
    cells = data.get("cells") if isinstance(data, dict) else None
    ids = set()
    for cell in cells if isinstance(cells, list) else ():
        meta = cell.get("metadata") if isinstance(cell, dict) else None
        nbgrader = meta.get("nbgrader") if isinstance(meta, dict) else None
        grade_id = nbgrader.get("grade_id") if isinstance(nbgrader, dict) else None
        if isinstance(grade_id, str):
            ids.add(grade_id)
    return frozenset(ids)


def _grade_ids_under(folder: Path, name: str, *, max_bytes: int) -> frozenset[str]:
    """The grade ids of the notebook ``name`` in a student's folder (see :func:`grade_ids_in`)."""
    return grade_ids_in(folder / name, max_bytes)


def _grade_ids_of_upload(paths: dict[str, Path | None], name: str, *, max_bytes: int) -> frozenset[str]:
    """The grade ids of the upload ``name`` of an LMS download (nothing when it was not extracted)."""
    return grade_ids_in(paths.get(name), max_bytes)


def _pick(
    assignment: str,
    names: list[str],
    ids_of: Callable[[str], frozenset[str]] = lambda name: frozenset(),
    expected: frozenset[str] = frozenset(),
) -> tuple[str | None, str, tuple[str, ...]]:
    """Choose the notebook among uploaded file names: (chosen name, problem, notes).

    The expected name wins (the latest resubmission, ``-1``, ``-2``...). Otherwise a single notebook is
    graded under its own name, and among several the one holding the most of the assignment's grade ids
    (``ids_of`` reads them from a file); it fails only when that cannot tell them apart.
    """
    notebooks = [n for n in names if n.lower().endswith(".ipynb")]
    exact = []
    for name in notebooks:
        match = _RESUBMISSION.match(name)
        if match and match["stem"] == assignment:
            exact.append((int(match["n"] or 0), name))
    if exact:
        exact.sort()
        chosen = exact[-1][1]
        others = tuple(f"ignored {n}" for n in notebooks if n != chosen)
        return chosen, "", others
    wanted = f"{assignment}.ipynb"
    if not notebooks:
        found = ", ".join(sorted(names)) or "nothing"
        return None, f"notebook missing: expected {wanted}, found {found}", ()
    held = {name: ids_of(name) for name in notebooks}
    if len(notebooks) == 1:
        name = notebooks[0]
        if expected and held[name] and not held[name] & expected:
            return (
                None,
                (
                    f"notebook renamed: expected {wanted}, found {name}, which holds none of this "
                    f"assignment's cells (is it another homework?); submit {wanted}"
                ),
                (),
            )
        return name, "", (f"graded {name} (expected the name {wanted})",)
    score = {name: len(held[name] & expected) for name in notebooks}
    best = max(score.values())
    top = [name for name in notebooks if score[name] == best]
    listed = ", ".join(sorted(notebooks))
    if best > 0 and len(top) == 1:
        chosen = top[0]
        note = f"graded {chosen}: of {listed}, it is the one holding this assignment's cells"
        return chosen, "", (note,)
    why = "none holds this assignment's cells" if best == 0 else "several hold this assignment's cells"
    return None, f"several notebooks and none named {wanted}: {listed} ({why}; submit only {wanted})", ()


def _readable_id(name: str) -> str:
    """A folder name as a student id that any file can hold: undecodable bytes written as ``\\xff``."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def _from_nbgrader_folder(student: Path, within: str, notebook: str) -> Submission:
    """nbgrader's layout: the notebook is ``<student>/<within>/<notebook>.ipynb``, by its exact name."""
    student_id = _readable_id(student.name)
    folder = student / within
    path = folder / f"{notebook}.ipynb"
    try:
        if path.is_symlink():
            return Submission(
                student_id, None, f"{path.name} is a symbolic link; submit the notebook file itself"
            )
        if path.is_file():
            return Submission(student_id, path)
        found = ", ".join(sorted(p.name for p in folder.glob("*.ipynb"))) if folder.is_dir() else ""
    except OSError as error:  # one unreadable folder is that student's problem, not the batch's
        return Submission(
            student_id, None, f"the submission folder cannot be read ({error.strerror or error})"
        )
    return Submission(
        student_id, None, f"notebook missing: expected {within}/{path.name}, found {found or 'no notebook'}"
    )


def _from_student_folders(
    root: Path, assignment: str, expected: frozenset[str], max_bytes: int, within: str | None = None
) -> list[Submission]:
    subs = []
    for student in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if within is not None:
            subs.append(_from_nbgrader_folder(student, within, assignment))
            continue
        folder = student
        try:
            names = sorted(p.name for p in folder.iterdir() if p.is_file() or p.is_symlink())
        except OSError as error:  # one unreadable folder is that student's problem, not the batch's
            problem = f"the submission folder cannot be read ({error.strerror or error}); check it"
            subs.append(Submission(_readable_id(student.name), None, problem))
            continue
        chosen, problem, notes = _pick(
            assignment, names, functools.partial(_grade_ids_under, folder, max_bytes=max_bytes), expected
        )
        notebook = folder / chosen if chosen else None
        if notebook is not None and notebook.is_symlink():
            notebook, problem = None, f"{chosen} is a symbolic link; submit the notebook file itself"
        subs.append(Submission(_readable_id(student.name), notebook, problem, None, notes))
    return subs


def _group_canvas(
    entries: dict[str, list[tuple[dict, str, Path | None, str]]],
    assignment: str,
    expected: frozenset[str],
    max_bytes: int,
) -> list[Submission]:
    subs = []
    for user in sorted(entries):
        files = entries[user]
        meta = files[0][0]
        names = [upload for _meta, upload, _path, _problem in files]
        paths = {upload: path for _meta, upload, path, problem in files if not problem}
        chosen, problem, notes = _pick(
            assignment, names, functools.partial(_grade_ids_of_upload, paths, max_bytes=max_bytes), expected
        )
        notebook = None
        if chosen is not None:
            meta, _upload, notebook, entry_problem = next(f for f in files if f[1] == chosen)
            problem = entry_problem
        identity = LmsIdentity(
            name=meta["name"],
            user_id=meta["user"],
            submission_id=meta["submission"],
            late=bool(meta["late"]),
            filename=chosen or "",
        )
        subs.append(Submission(user, notebook if not problem else None, problem, identity, notes))
    return subs


def _from_canvas_folder(
    root: Path, assignment: str, expected: frozenset[str], max_bytes: int
) -> list[Submission]:
    entries: dict[str, list] = {}
    for path in sorted(root.iterdir()):
        match = CANVAS_NAME.match(path.name)
        if not match or path.is_dir():
            continue
        problem = f"{path.name} is a symbolic link; refused" if path.is_symlink() else ""
        entries.setdefault(match["user"], []).append((match.groupdict(), match["file"], path, problem))
    return _group_canvas(entries, assignment, expected, max_bytes)


def _unsafe(info: zipfile.ZipInfo) -> str:
    name = info.filename.replace("\\", "/")
    parts = PurePosixPath(name).parts
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return f"zip entry {info.filename!r} has an absolute path; refused"
    if ".." in parts:
        return f"zip entry {info.filename!r} points outside the folder ('..'); refused"
    if stat.S_ISLNK(info.external_attr >> 16):
        return f"zip entry {info.filename!r} is a symbolic link; refused"
    return ""


def _from_canvas_zip(
    archive: Path, assignment: str, staging: Path, max_bytes: int, expected: frozenset[str]
) -> list[Submission]:
    entries: dict[str, list] = {}
    try:
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                if info.is_dir():
                    continue
                base = PurePosixPath(info.filename.replace("\\", "/")).name
                match = CANVAS_NAME.match(base)
                if not match:
                    continue
                problem = _unsafe(info)
                target = None
                if not problem and info.file_size > max_bytes:
                    size, limit = info.file_size / 1024**2, max_bytes / 1024**2
                    problem = f"file too large: {size:.1f} MB > {limit:.1f} MB limit"
                if not problem:
                    folder = staging / match["user"]
                    folder.mkdir(parents=True, exist_ok=True)
                    target = folder / f"{len(entries.get(match['user'], []))}.ipynb"
                    with zf.open(info) as src:
                        data = src.read(max_bytes + 1)
                    if len(data) > max_bytes:
                        problem, target = f"file too large: more than {max_bytes / 1024**2:.1f} MB", None
                    else:
                        target.write_bytes(data)
                entries.setdefault(match["user"], []).append(
                    (match.groupdict(), match["file"], target, problem)
                )
    except zipfile.BadZipFile as error:
        raise UsageError(
            f"{archive} is not a readable zip file ({error}); download it again from the LMS."
        ) from None
    return _group_canvas(entries, assignment, expected, max_bytes)


def collect(
    submissions: Path,
    assignment: str,
    *,
    staging: Path,
    max_bytes: int,
    grade_ids: frozenset[str] = frozenset(),
    within: str | None = None,
) -> list[Submission]:
    """Find every student's submission.

    Args:
        submissions: a folder of student folders, a Canvas download folder, or a Canvas zip.
        assignment: the assignment's name (the expected notebook is ``<assignment>.ipynb``).
        staging: a folder this function may empty and fill (notebooks read from a zip).
        max_bytes: entries larger than this are not extracted.
        grade_ids: the assignment's grade ids: among notebooks none of which has the expected name, the one
            holding the most of them is graded.
        within: nbgrader's layout: each student's notebook is ``<student>/<within>/<assignment>.ipynb``.

    Returns:
        Submissions sorted by student id.

    Raises:
        UsageError: the path does not exist or holds no submissions.
    """
    if not submissions.exists():
        raise UsageError(
            f"submissions not found: {submissions} (pass a folder of student folders or an LMS zip)"
        )
    if submissions.is_file():
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        subs = _from_canvas_zip(submissions, assignment, staging, max_bytes, grade_ids)
    elif any(CANVAS_NAME.match(p.name) and p.is_file() for p in submissions.iterdir()):
        subs = _from_canvas_folder(submissions, assignment, grade_ids, max_bytes)
    else:
        subs = _from_student_folders(submissions, assignment, grade_ids, max_bytes, within)
    if not subs:
        raise UsageError(
            f"no submissions in {submissions}: expected one folder per student holding {assignment}.ipynb, "
            "or Canvas-named files (name_12345_67890_file.ipynb)"
        )
    return sorted(_unique_ids(subs), key=lambda s: s.student_id)


def _unique_ids(subs: list[Submission]) -> list[Submission]:
    """Give students who would share an id (``a\\xff`` from undecodable bytes and a folder really named
    so) ids of their own: each keeps its row, its page and its grade."""
    from collections import Counter
    from dataclasses import replace

    counts = Counter(s.student_id for s in subs)
    seen: Counter[str] = Counter()
    unique = []
    for sub in subs:
        if counts[sub.student_id] > 1:
            seen[sub.student_id] += 1
            raw = os.fsencode(sub.notebook.parent.name) if sub.notebook is not None else b""
            key = raw + sub.student_id.encode("utf-8", "surrogatepass") + str(seen[sub.student_id]).encode()
            new_id = f"{sub.student_id}~{hashlib.sha256(key).hexdigest()[:8]}"
            note = f"another submission has the id '{sub.student_id}'; this one is '{new_id}'"
            sub = replace(sub, student_id=new_id, notes=(*sub.notes, note))
        unique.append(sub)
    return unique
