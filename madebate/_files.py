"""What went wrong with a file, in words a user can act on ("the disk is full"), not a bare
"[Errno 28] No space left on device"."""

from __future__ import annotations

import errno

_PROBLEMS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EFBIG: "the file is over the largest size allowed (the file system's or this "
    "process's file size limit)",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "the operating system does not allow it",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "it is a folder, not a file",
    errno.EEXIST: "it exists and is not a folder",
    errno.ELOOP: "the path goes through a loop of symbolic links",
    errno.ENAMETOOLONG: "the path is too long",
    errno.EIO: "the device reported an input/output error",
    errno.ENOENT: "it does not exist",
}

# Problems that freeing space (or raising a limit) cures: a run can be resumed afterwards.
SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def os_problem(exc: OSError) -> str:
    """The problem an OSError reports, in words, with its errno name for searching."""
    code = exc.errno
    words = _PROBLEMS.get(code) if code is not None else None
    name = errno.errorcode.get(code, "") if code is not None else ""
    if words is None:
        return exc.strerror or str(exc) or type(exc).__name__
    return f"{words} ({name})" if name else words
