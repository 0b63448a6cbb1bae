"""Process runtime: workers and their Supervisor, logged events and channels, per-process logs,
shared memory.

Import the submodules directly (``lightsheet.runtime.worker``, ``.supervisor``, ``.events``,
``.channels``, ``.logs``, ``.shm``, ``.ring``); this package imports nothing so that a spawned
child pays only for what it uses. It depends on the standard library, numpy and psutil only.
"""
