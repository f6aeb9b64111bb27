package ship

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/pastmon/pastmon/discovery"
	"github.com/pastmon/pastmon/store"
)

// SensorConfig is a remote sensor's delivery as its command line gives it.
type SensorConfig struct {
	Name, Version string
	Web, Token    string           // the web node, unless found in Etcd
	Etcd          discovery.Config // with endpoints: follow the web node's key
	Spool         string           // spool file
	SpoolMax      int              // most windows spooled
	Heartbeat     time.Duration    // 0: none (a file replayed)
	// Replay is the capture file being replayed ("" when live): when it
	// is a regular file, batch ids derive from its content and the windows
	// (Config.Replay); a pipe cannot be read twice anyway.
	Replay string
}

// Validate reports every setting that cannot work, as flag errors.
func (c *SensorConfig) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.Web == "" && len(c.Etcd.Endpoints) == 0 {
		bad("need --web URL or --etcd-endpoints to reach the web node")
	}
	if c.Web != "" {
		if u, err := url.Parse(c.Web); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("--web %q: want http://host:port or https://host:port", c.Web)
		}
	}
	if len(c.Etcd.Endpoints) > 0 {
		if err := c.Etcd.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.Spool == "" {
		bad("--spool must not be empty")
	}
	if c.SpoolMax < 1 {
		bad("--spool-max %d: want at least 1", c.SpoolMax)
	}
	if c.Heartbeat < time.Second {
		bad("--heartbeat %s: want at least 1s", c.Heartbeat)
	}
	return errors.Join(errs...)
}

// Sensor is a remote sensor's delivery at work: spool file, HTTP
// destination, etcd watch and heartbeats.
type Sensor struct {
	*Shipper
	spool interface{ Close() error }
	stop  context.CancelFunc
	wg    sync.WaitGroup
}

// StartSensor opens the spool and delivers from it until Close. Delivery
// does not end with ctx: Close decides how long it goes on.
func StartSensor(ctx context.Context, cfg SensorConfig) (*Sensor, error) {
	bg := context.WithoutCancel(ctx)
	spool, err := store.OpenSpool(bg, cfg.Spool, cfg.SpoolMax)
	if err != nil {
		return nil, fmt.Errorf("open spool %s: %w", cfg.Spool, err)
	}
	if n, err := spool.Depth(bg); err == nil && n > 0 {
		slog.Info("spool holds windows from before", "spool", cfg.Spool, "windows", n)
	}
	var replay string
	if st, err := os.Stat(cfg.Replay); err == nil && st.Mode().IsRegular() {
		if replay, err = fileHash(cfg.Replay); err != nil {
			spool.Close()
			return nil, err
		}
	}
	dest := NewHTTP("", cfg.Token)
	sh := New(Config{Name: cfg.Name, Version: cfg.Version, Spool: spool, SpoolName: cfg.Spool, Dest: dest,
		QueueMax: cfg.SpoolMax, Replay: replay})
	dctx, stop := context.WithCancel(bg)
	s := &Sensor{Shipper: sh, spool: spool, stop: stop}
	s.wg.Go(func() { sh.Run(dctx) })
	if len(cfg.Etcd.Endpoints) > 0 {
		if cfg.Web != "" {
			slog.Info("finding the web node in etcd: --web is only used without --etcd-endpoints", "web", cfg.Web)
		}
		etcd := cfg.Etcd
		etcd.Token = cfg.Token // follow only registrations signed with it
		s.wg.Go(func() {
			err := discovery.Watch(dctx, etcd, func(url string) {
				if dest.SetURL(url) {
					sh.Retry()
				}
			})
			if err != nil {
				slog.Error("etcd watch failed: no web node to deliver to", "err", err)
			}
		})
	} else {
		dest.SetURL(cfg.Web)
	}
	if cfg.Heartbeat > 0 {
		s.wg.Go(func() { sh.RunHeartbeat(dctx, cfg.Heartbeat) })
	}
	return s, nil
}

// localMax bounds the windows the web node's own sensor keeps in memory
// while its store refuses them (as a sensor's default --spool-max).
const localMax = 100000

// StartLocal starts the delivery of the web node's own sensor into db: as
// a remote sensor's (queue, retries, heartbeats every minute), with its
// spool in memory.
func StartLocal(ctx context.Context, db Ingester, name, version string) *Sensor {
	spool := NewMemory(localMax)
	sh := New(Config{Name: name, Version: version, Spool: spool, SpoolName: "memory", Dest: Store{DB: db}, QueueMax: localMax})
	dctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s := &Sensor{Shipper: sh, spool: spool, stop: stop}
	s.wg.Go(func() { sh.Run(dctx) })
	s.wg.Go(func() { sh.RunHeartbeat(dctx, time.Minute) })
	return s
}

// fileHash is the SHA-256 of a file's content, in hex.
func fileHash(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Close finishes delivery (see Shipper.Finish) and closes the spool: call
// it once the capture ended.
func (s *Sensor) Close(ctx context.Context, wait time.Duration, keep bool) error {
	err := s.Finish(ctx, wait, keep)
	return errors.Join(err, s.Abort())
}

// Abort stops delivery at once and closes the spool: for a capture that
// never started.
func (s *Sensor) Abort() error {
	s.stop()
	s.wg.Wait()
	return s.spool.Close()
}
