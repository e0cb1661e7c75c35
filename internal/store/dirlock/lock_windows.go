package dirlock

import (
	"os"

	"golang.org/x/sys/windows"
)

// lockFile takes f's exclusive lock without waiting. Windows drops it
// when the process ends, however it ends.
func lockFile(f *os.File) error {
	return windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, new(windows.Overlapped))
}
