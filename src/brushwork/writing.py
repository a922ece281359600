"""Writing files without losing the user's or brushwork's own work.

- ``replacing(path)`` / ``write_atomic(path, write)``: a temporary file beside the target, renamed
  over it only when complete, so a file is never left half written. The result has the mode a
  user expects: what the umask gives a new file (not the temporary file's 0600), an existing
  file's own mode (and owner, where allowed) when it is replaced; a symlinked target is written
  through to the file it points to, so the link stays a link.
- ``unwritable(folder)``: why nothing can be written in a folder (read-only file system, no
  permission, a full disk), found by writing a byte there: callers ask before any work, not
  after hours of painting.
- ``write_or_rescue(path, data)``: when the target cannot be written at save time (the disk
  filled up, the file system turned read-only), the bytes go to the user's home folder or the
  temporary folder instead, under a name that replaces nothing, and the caller says where.
- ``Spill``: the same for a stream an encoder writes and seeks in (a video): when a write fails,
  the bytes written so far are copied to a rescue file and the stream goes on there.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path


class CannotWrite(Exception):
    """An output that could not be written, where the work could not be kept elsewhere either."""

    def __init__(self, path, error: OSError):
        super().__init__(f"cannot write {path} ({saying(error)})")


def saying(e: OSError) -> str:
    """An OSError as a user reads it: its reason, without the temporary file's name."""
    return e.strerror or str(e)


def target(path: str | os.PathLike) -> Path:
    """The file a write to ``path`` must change: the file a symlink points to, else ``path``."""
    path = Path(path)
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def _umask() -> int:
    try:
        with open("/proc/self/status") as f:  # Linux: read without changing it (threads)
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _adopt_mode(tmp: str, path: Path) -> None:
    """Give ``tmp`` the mode (and owner) ``path`` has, or a new file's mode under the umask."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        os.chmod(tmp, 0o666 & ~_umask())
        return
    os.chmod(tmp, stat.S_IMODE(st.st_mode))
    with contextlib.suppress(PermissionError):  # only root may give a file to someone else
        os.chown(tmp, st.st_uid, st.st_gid)


@contextlib.contextmanager
def replacing(path: str | os.PathLike) -> Iterator[str]:
    """A temporary file's path beside ``path``: renamed to ``path`` when the block ends, removed
    if it raises (also on Ctrl-C), so ``path`` is never left half written."""
    path = target(path)
    fd, tmp = tempfile.mkstemp(prefix=_prefix(path), suffix=".part", dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        _adopt_mode(tmp, path)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _prefix(path: Path) -> str:
    """The temporary file's prefix: the target's name, cut short so that a name near the file
    system's limit still leaves room for the random part and ``.part``."""
    return f".{path.name[:64]}."


def write_atomic(path: str | os.PathLike, write: Callable) -> Path:
    """Call ``write(file)`` on a temporary file in ``path``'s folder, then rename it to ``path``:
    an existing file is replaced only by a complete one."""
    with replacing(path) as tmp:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
    return Path(path)


def unwritable(folder: str | os.PathLike, name: str | None = None) -> str | None:
    """Why no file (named ``name``) can be written in ``folder`` (None: one can): it is missing,
    read-only, not ours, or full, or the name is too long for it. Writes one byte to a temporary
    file there, then removes it."""
    folder = Path(folder)
    if not folder.is_dir():
        return "no such folder" if not folder.exists() else "not a folder"
    with contextlib.suppress(OSError, ValueError):
        if name is not None and len(os.fsencode(name)) > os.pathconf(folder, "PC_NAME_MAX"):
            return os.strerror(errno.ENAMETOOLONG)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".brushwork-", suffix=".probe", dir=folder)
    except OSError as e:
        return saying(e)
    try:
        os.write(fd, b"\0")
        os.fsync(fd)
    except OSError as e:
        return saying(e)
    finally:
        os.close(fd)
        os.unlink(tmp)
    return None


def rescue_folders() -> list[Path]:
    """Where work goes when its own place cannot take it: the home folder, then the temporary one."""
    try:
        home = [Path.home()]
    except (RuntimeError, KeyError):  # no home folder known
        home = []
    return [*home, Path(tempfile.gettempdir())]


def fresh(path: Path) -> Path:
    """``path``, or ``stem-1.suffix``, ``stem-2.suffix``, … : the first name no file has yet."""
    found, n = path, 1
    while found.exists() or found.is_symlink():
        found, n = path.with_name(f"{path.stem}-{n}{path.suffix}"), n + 1
    return found


def write_or_rescue(path: str | os.PathLike, data: bytes) -> tuple[Path, OSError | None]:
    """(where ``data`` was written, the error that kept it from ``path`` or None). When ``path``
    fails it goes to the first rescue folder that takes it; if none does, that first error is raised."""
    try:
        return write_atomic(path, lambda f: f.write(data)), None
    except OSError as e:
        for folder in rescue_folders():
            spot = fresh(folder / Path(path).name)
            with contextlib.suppress(OSError):
                return write_atomic(spot, lambda f: f.write(data)), e
        raise e from None


class Spill(io.RawIOBase):
    """A seekable file for an encoder that streams to ``path``: a temporary file beside it, renamed
    to it by ``commit()``. With ``rescue``, if a write there fails, what was written so far is
    copied to a temporary file in a rescue folder and the stream goes on there; ``commit()`` then
    names a fresh file in that folder, and ``error`` holds why ``path`` was left."""

    def __init__(self, path: str | os.PathLike, rescue: bool = False):
        super().__init__()
        self.path, self.rescue = target(path), rescue
        self.error: OSError | None = None
        self._final = self.path
        fd, self._tmp = tempfile.mkstemp(prefix=_prefix(self.path), suffix=".part", dir=self.path.parent)
        self._f = os.fdopen(fd, "r+b", buffering=0)
        self._size = 0  # bytes known to be in the file (a failed write may leave a torn tail)

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        return self._f.readinto(buf)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._f.seek(offset, whence)

    def tell(self) -> int:
        return self._f.tell()

    def write(self, data) -> int:
        at = self._f.tell()
        try:
            n = self._write_all(data)
        except OSError as e:
            if self.error is not None or not self.rescue:
                raise
            self.error = e
            self._move(at, e)
            n = self._write_all(data)
        self._size = max(self._size, at + n)
        return n

    def _write_all(self, data) -> int:
        return _write_all(self._f, data)

    def _move(self, at: int, error: OSError) -> None:
        """Carry the first ``_size`` bytes over to a rescue folder and go on writing there at ``at``."""
        for folder in rescue_folders():
            try:
                fd, tmp = tempfile.mkstemp(prefix=_prefix(self.path), suffix=".part", dir=folder)
            except OSError:
                continue
            new = os.fdopen(fd, "r+b", buffering=0)
            try:
                self._f.seek(0)
                while self._f.tell() < self._size:
                    _write_all(new, self._f.read(min(1 << 20, self._size - self._f.tell())))
            except OSError:
                new.close()
                os.unlink(tmp)
                continue
            self._f.close()
            os.unlink(self._tmp)
            self._f, self._tmp, self._final = new, tmp, folder / self.path.name
            self._f.seek(at)
            return
        raise error

    def commit(self) -> Path:
        """Close and rename the stream to its place (``path``, or a fresh name in the rescue folder)."""
        self._f.flush()
        os.fsync(self._f.fileno())
        self._f.close()
        final = self.path if self.error is None else fresh(self._final)
        _adopt_mode(self._tmp, final)
        os.replace(self._tmp, final)
        return final

    def discard(self) -> None:
        """Close and remove the temporary file (the run failed or was stopped)."""
        with contextlib.suppress(OSError):
            self._f.close()
        Path(self._tmp).unlink(missing_ok=True)


def _write_all(f, data) -> int:
    """Write all of ``data`` to the unbuffered file ``f`` (a raw write may take only part)."""
    view, done = memoryview(data), 0
    while done < len(view):
        done += f.write(view[done:])
    return done
