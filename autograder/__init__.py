"""The course autograder: grades folders of nbgrader submissions (work in progress)."""

from __future__ import annotations

import sys

__version__ = "0.1.0"

# jsonschema (through nbformat, which every grading process imports) loads ``rfc3987_syntax`` when it is
# installed (Jupyter's extras pull it in) to check the "iri" string format, and that module builds a
# grammar when imported: 1.3-2.3 s of CPU in the grader and in every worker process. Nothing the grader
# validates uses that format, so jsonschema is told the module is absent (it then skips the format).
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]  # None: "not importable"
