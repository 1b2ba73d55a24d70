"""The checks themselves. They run only inside the sandbox (a child forked by grading/zygote.py,
with the copy of the submission as its current directory and first on sys.path) and are named by
``grading.registry`` as ``"module:function"``; each takes a :class:`common.Context` and returns the
message of a pass or raises ``CheckFailed`` / ``CheckSkipped``."""
