//go:build unix

package dirlock

import (
	"os"

	"golang.org/x/sys/unix"
)

// lockFile takes f's exclusive lock without waiting. The kernel drops it
// when the process ends, however it ends.
func lockFile(f *os.File) error {
	return unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
}
