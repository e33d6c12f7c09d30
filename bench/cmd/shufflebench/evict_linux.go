package main

import (
	"fmt"
	"os"
	"syscall"
)

// posixFadvDontNeed is POSIX_FADV_DONTNEED on Linux.
const posixFadvDontNeed = 4

// evict asks the kernel to drop f's clean pages from the page cache
// (posix_fadvise DONTNEED), which needs no privileges.
func evict(f *os.File) error {
	_, _, errno := syscall.Syscall6(syscall.SYS_FADVISE64, f.Fd(), 0, 0, posixFadvDontNeed, 0, 0)
	if errno != 0 {
		return fmt.Errorf("posix_fadvise %s: %w", f.Name(), errno)
	}
	return nil
}
