package live

import (
	"fmt"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// linkLister lists interfaces over a route netlink socket opened by Open,
// so that it sees the network namespace the capture runs in, whichever
// thread asks later.
type linkLister struct {
	fd  int
	seq uint32
	buf []byte
}

func newLinkLister() (*linkLister, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("route netlink socket: %w", err)
	}
	return &linkLister{fd: fd, buf: make([]byte, 1<<16)}, nil
}

func (l *linkLister) close() error { return unix.Close(l.fd) }

// list returns the names of the interfaces that are up, in ifindex order.
func (l *linkLister) list() ([]string, error) {
	l.seq++
	if err := l.request(); err != nil {
		return nil, err
	}
	var names []string
	for {
		n, _, err := unix.Recvfrom(l.fd, l.buf, 0)
		if err != nil {
			return nil, fmt.Errorf("receive link dump: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(l.buf[:n])
		if err != nil {
			return nil, fmt.Errorf("parse link dump: %w", err)
		}
		for i := range msgs {
			m := &msgs[i]
			if m.Header.Seq != l.seq {
				continue // a reply to an earlier, abandoned dump
			}
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				return names, nil
			case unix.NLMSG_ERROR:
				return nil, fmt.Errorf("link dump: %w", netlinkError(m.Data))
			case unix.RTM_NEWLINK:
				if name, up := linkName(m); up {
					names = append(names, name)
				}
			}
		}
	}
}

func (l *linkLister) request() error {
	req := make([]byte, unix.NLMSG_HDRLEN+unix.SizeofIfInfomsg)
	h := (*unix.NlMsghdr)(unsafe.Pointer(&req[0]))
	*h = unix.NlMsghdr{
		Len:   uint32(len(req)),
		Type:  unix.RTM_GETLINK,
		Flags: unix.NLM_F_REQUEST | unix.NLM_F_DUMP,
		Seq:   l.seq,
	}
	req[unix.NLMSG_HDRLEN] = unix.AF_UNSPEC
	if err := unix.Sendto(l.fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("request link dump: %w", err)
	}
	return nil
}

func linkName(m *syscall.NetlinkMessage) (string, bool) {
	if len(m.Data) < unix.SizeofIfInfomsg {
		return "", false
	}
	info := (*unix.IfInfomsg)(unsafe.Pointer(&m.Data[0]))
	if info.Flags&unix.IFF_UP == 0 {
		return "", false
	}
	attrs, err := syscall.ParseNetlinkRouteAttr(m)
	if err != nil {
		return "", false
	}
	for _, a := range attrs {
		if a.Attr.Type == unix.IFLA_IFNAME {
			return string(trimNUL(a.Value)), true
		}
	}
	return "", false
}

func trimNUL(b []byte) []byte {
	for i, c := range b {
		if c == 0 {
			return b[:i]
		}
	}
	return b
}

func netlinkError(data []byte) error {
	if len(data) < 4 {
		return fmt.Errorf("short netlink error")
	}
	return unix.Errno(-*(*int32)(unsafe.Pointer(&data[0])))
}
