//go:build !linux

package pipeline

// lowerPriority does nothing where a thread's priority cannot be set on
// its own.
func lowerPriority() error { return nil }
