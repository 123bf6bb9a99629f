#!/usr/bin/python3
"""
A filesystem that forgets what was not fsynced, for the power-cut tests (after Jepsen's LazyFS).

    /usr/bin/python3 lazyfs.py BACKING MOUNTPOINT

Everything under MOUNTPOINT is BACKING's, except file data: a write is kept in this process's
memory (4 KiB pages per file) and reaches BACKING only when the file is fsynced (fsync or
fdatasync). A read sees the kept pages over BACKING, so running programs see every write. Killing
this process with SIGKILL is the power cut: the pages it kept die with it, and BACKING holds what
was synced and nothing else. Mount it again on BACKING and the programs restart on that.

Creating, renaming, deleting and chmod/chown of files and folders reach BACKING at once (as if
every directory were synced at once): the model loses file data only, which is what a database's
commit protocol is about. Closing a file syncs nothing. Runs single-threaded; POSIX locks are the
kernel's (no lock operation is given).
"""
import errno
import os
import sys

from fusepy import FUSE, FuseOSError, Operations, fuse_get_context

PAGE = 4096


class Unsynced:
    """A file's writes since its last fsync: pages, its size now, and where a truncation cut it."""

    def __init__(self, size):
        self.pages = {}
        self.size = size
        # BACKING's bytes at or past this offset are no longer the file's (it was truncated since).
        self.floor = size


class LazyFS(Operations):
    def __init__(self, root):
        self.root = os.path.realpath(root)
        self.unsynced = {}

    def _real(self, path):
        return os.path.join(self.root, path.lstrip('/'))

    def _own(self, real):
        uid, gid, _ = fuse_get_context()
        os.lchown(real, uid, gid)

    def _state(self, real, fh):
        state = self.unsynced.get(real)
        if state is None:
            state = Unsynced(os.fstat(fh).st_size)
            self.unsynced[real] = state
        return state

    def _base_page(self, state, fh, index):
        """The page as BACKING has it, with what a truncation cut off read as zeros."""
        start = index * PAGE
        data = bytearray(os.pread(fh, PAGE, start)) if start < state.floor else bytearray()
        keep = max(0, min(len(data), state.floor - start))
        del data[keep:]
        data.extend(b'\0' * (PAGE - len(data)))
        return data

    # Files and folders: straight to BACKING.
    def access(self, path, mode):
        if not os.access(self._real(path), mode):
            raise FuseOSError(errno.EACCES)

    def getattr(self, path, fh=None):
        real = self._real(path)
        st = os.lstat(real)
        attrs = {key: getattr(st, key) for key in (
            'st_atime', 'st_ctime', 'st_gid', 'st_mode', 'st_mtime', 'st_nlink', 'st_size', 'st_uid')}
        state = self.unsynced.get(real)
        if state is not None:
            attrs['st_size'] = state.size
        return attrs

    def readdir(self, path, fh):
        return ['.', '..'] + os.listdir(self._real(path))

    def readlink(self, path):
        return os.readlink(self._real(path))

    def mkdir(self, path, mode):
        real = self._real(path)
        os.mkdir(real, mode)
        self._own(real)

    def rmdir(self, path):
        os.rmdir(self._real(path))

    def symlink(self, target, source):
        real = self._real(target)
        os.symlink(source, real)
        self._own(real)

    def link(self, target, source):
        os.link(self._real(source), self._real(target))

    def unlink(self, path):
        real = self._real(path)
        os.unlink(real)
        self.unsynced.pop(real, None)

    def rename(self, old, new):
        real_old, real_new = self._real(old), self._real(new)
        os.rename(real_old, real_new)
        self.unsynced.pop(real_new, None)
        if real_old in self.unsynced:
            self.unsynced[real_new] = self.unsynced.pop(real_old)

    def chmod(self, path, mode):
        os.chmod(self._real(path), mode)

    def chown(self, path, uid, gid):
        os.lchown(self._real(path), uid, gid)

    def utimens(self, path, times=None):
        os.utime(self._real(path), times)

    def statfs(self, path):
        sv = os.statvfs(self._real(path))
        return {key: getattr(sv, key) for key in (
            'f_bavail', 'f_bfree', 'f_blocks', 'f_bsize', 'f_favail', 'f_ffree', 'f_files', 'f_flag',
            'f_frsize', 'f_namemax')}

    def create(self, path, mode, fi=None):
        real = self._real(path)
        fh = os.open(real, os.O_RDWR | os.O_CREAT, mode)
        self._own(real)
        return fh

    def open(self, path, flags):
        real = self._real(path)
        fh = os.open(real, os.O_RDWR if os.access(real, os.W_OK) else os.O_RDONLY)
        if flags & os.O_TRUNC:
            self.truncate(path, 0, fh)
        return fh

    def release(self, path, fh):
        os.close(fh)

    def flush(self, path, fh):
        return 0

    # File data: kept here until fsynced.
    def read(self, path, size, offset, fh):
        state = self.unsynced.get(self._real(path))
        if state is None:
            return os.pread(fh, size, offset)
        end = min(offset + size, state.size)
        out = bytearray()
        position = offset
        while position < end:
            index = position // PAGE
            page = state.pages.get(index) or self._base_page(state, fh, index)
            start = position - index * PAGE
            take = min(PAGE - start, end - position)
            out += page[start:start + take]
            position += take
        return bytes(out)

    def write(self, path, data, offset, fh):
        state = self._state(self._real(path), fh)
        position, done = offset, 0
        while done < len(data):
            index = position // PAGE
            page = state.pages.get(index)
            if page is None:
                page = self._base_page(state, fh, index)
                state.pages[index] = page
            start = position - index * PAGE
            take = min(PAGE - start, len(data) - done)
            page[start:start + take] = data[done:done + take]
            position += take
            done += take
        state.size = max(state.size, offset + len(data))
        return len(data)

    def truncate(self, path, length, fh=None):
        real = self._real(path)
        own = fh is None
        if own:
            fh = os.open(real, os.O_RDWR)
        try:
            state = self._state(real, fh)
            for index in [i for i in state.pages if i * PAGE >= length]:
                del state.pages[index]
            last = state.pages.get(length // PAGE)
            if last is not None:
                cut = length - (length // PAGE) * PAGE
                last[cut:] = b'\0' * (PAGE - cut)
            state.floor = min(state.floor, length)
            state.size = length
        finally:
            if own:
                os.close(fh)

    def fsync(self, path, datasync, fh):
        real = self._real(path)
        state = self.unsynced.pop(real, None)
        if state is not None:
            if state.floor < os.fstat(fh).st_size:
                os.ftruncate(fh, state.floor)
            for index, page in sorted(state.pages.items()):
                start = index * PAGE
                if start < state.size:
                    os.pwrite(fh, bytes(page[:state.size - start]), start)
            os.ftruncate(fh, state.size)
        os.fsync(fh)
        return 0

    def fsyncdir(self, path, datasync, fh):
        return 0


if __name__ == '__main__':
    backing, mountpoint = sys.argv[1], sys.argv[2]
    FUSE(LazyFS(backing), mountpoint, foreground=True, nothreads=True, allow_other=True,
         default_permissions=True, big_writes=True, fsname='lazyfs')
