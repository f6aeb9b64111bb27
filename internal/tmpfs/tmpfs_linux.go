// Package tmpfs mounts small real filesystems for tests that must see a
// disk fill up. It is for tests only; it runs nothing on its own.
package tmpfs

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// Mount mounts a tmpfs of size (e.g. "1m") on a new temporary folder,
// unmounted at the end of the test, and returns the folder. Without root
// (or without mount rights) the test is skipped.
func Mount(t testing.TB, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	return dir
}

// Grow gives the tmpfs at dir a new size, keeping its files.
func Grow(t testing.TB, dir, size string) {
	t.Helper()
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_REMOUNT, "size="+size); err != nil {
		t.Fatalf("grow tmpfs: %v", err)
	}
}
