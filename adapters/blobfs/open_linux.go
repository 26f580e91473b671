package blobfs

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
)

// openRead opens a blob file for reading. os.Open would try to add the
// descriptor to the runtime's poller: four more system calls (three
// fcntl that make it non-blocking and undo that, and an epoll_ctl, which
// refuses a regular file), each time a public file is served, about as
// many as the rest of opening and reading a small image (strace -c,
// BENCHMARKS.md). os.NewFile checks the descriptor
// with one fcntl and leaves a blocking one out of the poller, which is
// where a regular file's reads end up anyway.
func openRead(name string) (*os.File, error) {
	for {
		fd, err := syscall.Open(name, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if errors.Is(err, syscall.EINTR) {
			continue // the runtime's preemption signal; os.Open retries too
		}
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		return os.NewFile(uintptr(fd), name), nil
	}
}
