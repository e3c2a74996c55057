"""The steps of grading one submission, one small module each, in the order the pipeline runs them.

``read`` (bytes → validated notebook) → ``restore`` (protected and test cells from the source) →
``execute`` (run the code in the sandbox) → ``limit_output`` (bounded outputs) → ``score`` (verdicts per
graded cell) → ``conceal`` (hidden tests out of everything a student sees) → ``feedback`` (HTML).
Each step is a plain function over notebooks and values, testable alone; new behaviour is a new step.
"""
