package redistest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Multi-process topologies: a Redis Cluster of dedicated servers, and a master
// watched by a Sentinel. Both are built from the installed redis-server (and
// redis-cli for the cluster), on free loopback ports, and torn down, temporary
// directories included, when the test ends.

const (
	skipNoCLI = "real Redis: redis-cli not found on PATH; this test builds a Redis Cluster with it, so install redis-tools"

	// topologyTimeout bounds the wait for a cluster or sentinel to be usable.
	topologyTimeout = 30 * time.Second
	clusterSlots    = 16384
	sentinelLogName = "sentinel.log"
)

// SentinelMaster is the master name NewSentinel's sentinel monitors.
const SentinelMaster = "mymaster"

// Cluster is a Redis Cluster of masters only (no replicas), each a dedicated
// redis-server of one test.
type Cluster struct {
	Nodes []*Server
	Addrs []string // "127.0.0.1:port" of every master
	URL   string   // "redis-cluster://127.0.0.1:p1,127.0.0.1:p2,…" (SPEC §2)
}

// NewCluster starts masters (at least 3) cluster-enabled redis-servers, joins
// them with `redis-cli --cluster create`, which spreads the 16384 slots evenly,
// and waits until every node reports cluster_state:ok and knows every other
// one. It skips (fails under CI=true) without redis-server or redis-cli.
func NewCluster(t testing.TB, masters int) *Cluster {
	t.Helper()
	if masters < 3 {
		t.Fatalf("redistest: a Redis Cluster needs at least 3 masters, not %d", masters)
	}
	if testing.Short() {
		skip(t, skipShort)
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		skipOrFail(t, skipNoServer)
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		skipOrFail(t, skipNoCLI)
	}
	c := &Cluster{}
	for range masters {
		// The cluster bus gets a port of its own: the default, port+10000, is
		// not a valid port for a redis port above 55535.
		bus, err := freePort()
		if err != nil {
			t.Fatalf("redistest: %v", err)
		}
		s := NewServer(t,
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf",
			"--cluster-port", strconv.Itoa(bus),
			"--cluster-node-timeout", "5000")
		c.Nodes = append(c.Nodes, s)
		c.Addrs = append(c.Addrs, s.Addr)
	}
	c.URL = "redis-cluster://" + strings.Join(c.Addrs, ",")

	ctx, cancel := context.WithTimeout(context.Background(), topologyTimeout)
	defer cancel()
	args := append([]string{"--cluster", "create"}, c.Addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redistest: redis-cli %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if err := c.waitOK(ctx); err != nil {
		t.Fatalf("redistest: %v", err)
	}
	return c
}

// waitOK polls CLUSTER INFO on every node until each one sees a healthy
// cluster of all the nodes with every slot served.
func (c *Cluster) waitOK(ctx context.Context) error {
	want := map[string]string{
		"cluster_state":          "ok",
		"cluster_slots_assigned": strconv.Itoa(clusterSlots),
		"cluster_slots_ok":       strconv.Itoa(clusterSlots),
		"cluster_known_nodes":    strconv.Itoa(len(c.Nodes)),
		"cluster_size":           strconv.Itoa(len(c.Nodes)),
	}
	for _, addr := range c.Addrs {
		rc := redis.NewClient(clientOptions(&redis.Options{Addr: addr, PoolSize: 1, MaxRetries: -1}, 0))
		var last string
		for {
			info, err := rc.ClusterInfo(ctx).Result()
			if err == nil {
				last = ""
				for k, v := range want {
					if got := infoField(info, k); got != v {
						last += fmt.Sprintf(" %s=%s (want %s)", k, got, v)
					}
				}
				if last == "" {
					break
				}
			} else {
				last = " " + err.Error()
			}
			select {
			case <-ctx.Done():
				_ = rc.Close()
				return fmt.Errorf("cluster node %s not ready within %v:%s", addr, topologyTimeout, last)
			case <-time.After(20 * time.Millisecond):
			}
		}
		_ = rc.Close()
	}
	return nil
}

// Client returns a cluster client over every node, closed when t ends.
func (c *Cluster) Client(t testing.TB) *redis.ClusterClient {
	t.Helper()
	rc := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:                    c.Addrs,
		DisableIdentity:          true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
	t.Cleanup(func() { _ = rc.Close() })
	return rc
}

// Sentinel is a master and one sentinel that monitors it under SentinelMaster
// with quorum 1. The master is a Server of the test; the sentinel a
// redis-server in sentinel mode.
type Sentinel struct {
	Master     *Server
	Addr       string // the sentinel's "127.0.0.1:port"
	MasterName string
	URL        string // "redis-sentinel://127.0.0.1:port/0?master=mymaster" (SPEC §2)
	Dir        string // the sentinel's directory: sentinel.conf (rewritten by it) and sentinel.log
}

// NewSentinel starts a master and a sentinel watching it, and waits until the
// sentinel names the master and has a live link to it. It skips (fails under
// CI=true) without redis-server.
func NewSentinel(t testing.TB) *Sentinel {
	t.Helper()
	master := NewServer(t)
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		skipOrFail(t, skipNoServer)
	}
	s := &Sentinel{Master: master, MasterName: SentinelMaster, Dir: t.TempDir()}
	var p *process
	for range 5 {
		port, err := freePort()
		if err != nil {
			t.Fatalf("redistest: %v", err)
		}
		p, err = launchSentinel(bin, s.Dir, port, master.port)
		if err == nil {
			break
		}
		if !errors.Is(err, errPortInUse) {
			t.Fatalf("redistest: %v", err)
		}
	}
	if p == nil {
		t.Fatal("redistest: no free port for the sentinel after 5 attempts")
	}
	s.Addr = p.addr()
	s.URL = "redis-sentinel://" + s.Addr + "/0?master=" + s.MasterName
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("redistest: tail of %s:\n%s", filepath.Join(s.Dir, sentinelLogName), tailFile(filepath.Join(s.Dir, sentinelLogName), 40))
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), topologyTimeout)
	defer cancel()
	if err := s.waitMaster(ctx); err != nil {
		t.Fatalf("redistest: %v", err)
	}
	return s
}

// waitMaster polls the sentinel until SENTINEL GET-MASTER-ADDR-BY-NAME answers
// the master's address and SENTINEL MASTER shows it as a reachable master.
func (s *Sentinel) waitMaster(ctx context.Context) error {
	sc := redis.NewSentinelClient(&redis.Options{Addr: s.Addr, PoolSize: 1, MaxRetries: -1, DisableIdentity: true})
	defer func() { _ = sc.Close() }()
	var last string
	for {
		addr, err := sc.GetMasterAddrByName(ctx, s.MasterName).Result()
		switch {
		case err != nil:
			last = "get-master-addr-by-name: " + err.Error()
		case strings.Join(addr, ":") != s.Master.Addr:
			last = fmt.Sprintf("get-master-addr-by-name answers %v, want %s", addr, s.Master.Addr)
		default:
			m, err := sc.Master(ctx, s.MasterName).Result()
			if err != nil {
				last = "sentinel master: " + err.Error()
			} else if m["flags"] != "master" {
				last = "master flags " + m["flags"]
			} else {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("sentinel %s not ready within %v: %s", s.Addr, topologyTimeout, last)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// launchSentinel writes sentinel.conf into dir and starts `redis-server
// sentinel.conf --sentinel` on port (a sentinel needs a config file it may
// rewrite). Like launch, the child dies with the test binary (Pdeathsig).
func launchSentinel(bin, dir string, port, masterPort int) (*process, error) {
	conf := filepath.Join(dir, "sentinel.conf")
	text := strings.Join([]string{
		"port " + strconv.Itoa(port),
		"bind 127.0.0.1",
		"daemonize no",
		"dir " + dir,
		`logfile ""`,
		fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d 1", SentinelMaster, masterPort),
		"sentinel down-after-milliseconds " + SentinelMaster + " 5000",
		"sentinel failover-timeout " + SentinelMaster + " 10000",
	}, "\n") + "\n"
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		return nil, err
	}
	return spawn(bin, dir, port, sentinelLogName, []string{conf, "--sentinel"})
}
