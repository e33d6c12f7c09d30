//go:build unix

package bench

import "syscall"

// processCPU returns the user+system CPU time the process used so far, in
// nanoseconds, or 0 when the platform cannot tell.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
