"""A grading kit for assignment 2: students check their modules, TAs grade a folder of submissions.

``python -m grading SUBMISSION_DIR`` runs every check of :mod:`grading.registry` on a submission laid
out like the course skeleton (``part1/``, ``part2/``), each check in its own child process with a
time and a memory limit (:mod:`grading.sandbox`), and scores the outcomes with an editable rubric
(``grading/rubric.toml``). See ``grading/README.md``.
"""


class GradingError(Exception):
    """A mistake in what the grader was given (a missing folder, a bad rubric, an unknown check):
    printed as one line ``error: ...`` with exit code 2, never as a traceback.

    The kit keeps this instead of the repository's ``common.runtime.UserError`` so that ``grading/``
    depends on nothing else in the repository and can be copied next to a student's part1/ and part2/.
    """
