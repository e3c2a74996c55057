"""nbgrader configuration of the course kit: run nbgrader from the repository root.

The course root is the current directory (nbgrader's default). ``solutions/<name>/<name>.ipynb`` are the
source notebooks; ``make assignments`` writes the student versions to ``assignments/<name>/<name>.ipynb``.
No gradebook is kept in the repository: ``make assignments`` runs with ``--no-db``, and graders pass
``--db sqlite:////somewhere/outside/gradebook.db``.
"""

c = get_config()  # noqa: F821 (nbgrader provides get_config when it loads this file)

c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "assignments"
# The autograder's per-homework limits (solutions/<name>/autograder.toml) are not for students.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "autograder.toml"]

# The Keras homeworks train a model inside a cell: allow 10 minutes per cell instead of 30 s.
c.Execute.timeout = 600
