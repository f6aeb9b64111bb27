package discovery

import (
	"fmt"
	"testing"
	"time"

	"github.com/pastmon/pastmon/discovery/etcdtest"
)

// TestClusterFailover: with a three-member etcd, each member in turn goes
// away (quorum stays); Register and Watch move to the others: the watcher
// sees a change made through another member, and Register puts back the
// key deleted through another member.
func TestClusterFailover(t *testing.T) {
	t.Parallel()
	members := etcdtest.StartCluster(t, 3)
	cfg := Config{Endpoints: etcdtest.Endpoints(members), Key: DefaultKey, DialTimeout: 2 * time.Second}
	w := startWatch(t, cfg, time.Second)
	w.next("", 10*time.Second)
	v := Value{URL: "http://192.0.2.70:8080"}
	r := startRegister(t, cfg, v, time.Second)
	w.next(v.URL, 20*time.Second)

	for i, m := range members {
		m.Stop()
		other := members[(i+1)%len(members)]
		moved := fmt.Sprintf("http://192.0.2.%d:8080", 71+i)
		other.Put(cfg.Key, reg(moved))
		w.next(moved, 20*time.Second)
		other.Delete(cfg.Key)
		w.next("", 20*time.Second)
		w.next(v.URL, 20*time.Second) // Register put it back
		waitKV(t, other, cfg.Key, v.URL, 5*time.Second)
		m.Restart()
	}
	if err := r.stop(); err != nil {
		t.Fatalf("Register after cancel = %v", err)
	}
	w.next("", 5*time.Second)
}
