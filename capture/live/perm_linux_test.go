package live

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"golang.org/x/sys/unix"
)

// dropCaps leaves the calling thread only the capabilities in keep (a bit
// mask). Capabilities are per thread, so only this thread is affected.
func dropCaps(keep uint64) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return err
	}
	keep &= uint64(data[1].Permitted)<<32 | uint64(data[0].Permitted)
	data = [2]unix.CapUserData{
		{Effective: uint32(keep), Permitted: uint32(keep)},
		{Effective: uint32(keep >> 32), Permitted: uint32(keep >> 32)},
	}
	return unix.Capset(&hdr, &data[0])
}

// becomeUser switches the calling thread, and only it, to uid, keeping its
// permitted capabilities so that dropCaps can raise some again, as a
// file capability (setcap) would for a program run by that user.
func becomeUser(uid int) error {
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("keep capabilities: %w", err)
	}
	// The raw system call: Go's Setresuid changes every thread.
	if _, _, errno := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(uid), uintptr(uid), uintptr(uid)); errno != 0 {
		return fmt.Errorf("setresuid %d: %w", uid, errno)
	}
	return nil
}

func TestPermission(t *testing.T) {
	requireNetns(t)
	ns := newNetns(t)
	const denied = "capture on any: permission denied: pastmon needs root or CAP_NET_RAW (setcap cap_net_raw+ep pastmon)"
	const nobody = 65534
	tests := []struct {
		name    string
		uid     int // 0: stay root
		keep    uint64
		wantErr string // empty: Open must work
	}{
		{"root without capabilities", 0, 0, denied},
		{"root with all but CAP_NET_RAW", 0, ^uint64(0) &^ (1 << unix.CAP_NET_RAW), denied},
		{"root with only CAP_NET_RAW", 0, 1 << unix.CAP_NET_RAW, ""},
		{"user without capabilities", nobody, 0, denied},
		{"user with CAP_NET_RAW", nobody, 1 << unix.CAP_NET_RAW, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var openErr error
			err := inNetns(t, ns, func() error {
				if tt.uid != 0 {
					if err := becomeUser(tt.uid); err != nil {
						return err
					}
				}
				if err := dropCaps(tt.keep); err != nil {
					return err
				}
				src, err := Open(context.Background(), Config{})
				if err == nil {
					if got := src.Interfaces(); len(got) == 0 {
						err = fmt.Errorf("no interfaces listed")
					}
					err = errors.Join(err, src.Close())
				}
				openErr = err
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tt.wantErr == "" && openErr != nil:
				t.Errorf("Open: %v", openErr)
			case tt.wantErr != "" && (openErr == nil || openErr.Error() != tt.wantErr):
				t.Errorf("Open = %v, want %q", openErr, tt.wantErr)
			case tt.wantErr != "" && !errors.Is(openErr, ErrPermission):
				t.Errorf("Open = %v, not errors.Is ErrPermission", openErr)
			}
		})
	}
}
