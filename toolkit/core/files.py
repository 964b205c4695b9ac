"""Reading a user's file: only regular files, and never more than a cap (``/dev/zero``, a FIFO or a
50 GB file given as a config must fail at once, not fill memory or hang)."""
from __future__ import annotations

import os
import stat
from pathlib import Path

from toolkit.core.errors import UserError

#: experiment, ladder and task YAMLs
MAX_CONFIG_BYTES = 8 * 1024 * 1024


def read_capped(path: Path, name: str, max_bytes: int) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``; a one-line UserError otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO must not block the open
    except IsADirectoryError:
        raise UserError(name, str(path), "is a directory; give a file") from None
    except OSError as e:
        raise UserError(name, str(path), f"cannot read the file ({e.strerror}); check the path") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise UserError(name, str(path), "is a directory; give a file")
        if not stat.S_ISREG(st.st_mode):
            raise UserError(name, str(path), "is not a regular file (a device, pipe or socket); give a file")
        if st.st_size > max_bytes:
            raise UserError(name, f"{st.st_size} bytes", f"the file is larger than {max_bytes} bytes; give a smaller file")
        with os.fdopen(fd, "rb", closefd=True) as f:
            fd = -1
            data = f.read(max_bytes + 1)
    finally:
        if fd >= 0:
            os.close(fd)
    if len(data) > max_bytes:  # it grew while we read
        raise UserError(name, f"more than {max_bytes} bytes", "the file is too large; give a smaller file")
    return data
