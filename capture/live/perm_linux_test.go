package live

import (
	"context"
	"errors"
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

func TestPermission(t *testing.T) {
	requireNetns(t)
	ns := newNetns(t)
	tests := []struct {
		name    string
		keep    uint64
		wantErr string // empty: Open must work
	}{
		{"no capabilities", 0,
			"capture on any: permission denied: pastmon needs root or CAP_NET_RAW (setcap cap_net_raw+ep pastmon)"},
		{"all but CAP_NET_RAW", ^uint64(0) &^ (1 << unix.CAP_NET_RAW),
			"capture on any: permission denied: pastmon needs root or CAP_NET_RAW (setcap cap_net_raw+ep pastmon)"},
		{"only CAP_NET_RAW", 1 << unix.CAP_NET_RAW, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var openErr error
			err := inNetns(t, ns, func() error {
				if err := dropCaps(tt.keep); err != nil {
					return err
				}
				src, err := Open(context.Background(), Config{})
				if err == nil {
					err = src.Close()
				}
				openErr = err
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tt.wantErr == "" && openErr != nil:
				t.Errorf("Open with only CAP_NET_RAW: %v", openErr)
			case tt.wantErr != "" && (openErr == nil || openErr.Error() != tt.wantErr):
				t.Errorf("Open = %v, want %q", openErr, tt.wantErr)
			case tt.wantErr != "" && !errors.Is(openErr, ErrPermission):
				t.Errorf("Open = %v, not errors.Is ErrPermission", openErr)
			}
		})
	}
}
