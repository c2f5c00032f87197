package redistest

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestMain(m *testing.M) {
	if os.Getenv("REDISTEST_HELPER") != "" {
		// Re-executed by TestMissingRedisServer: no redis-server on PATH, no REDIS_TEST_URL.
		os.Exit(m.Run())
	}
	Main(m)
}

// TestTwoTestsSeeDifferentDatabases runs two tests at once that write the same key.
func TestTwoTestsSeeDifferentDatabases(t *testing.T) {
	var (
		mu  sync.Mutex
		dbs = map[string]int{}
		// Both subtests hold their database at the same time.
		both sync.WaitGroup
	)
	both.Add(2)
	for _, name := range []string{"a", "b"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			arrived := sync.OnceFunc(both.Done)
			defer arrived() // never leave the other test waiting
			ctx := t.Context()
			c := Client(t)
			if err := c.Set(ctx, "k", name, 0).Err(); err != nil {
				t.Fatal(err)
			}
			arrived()
			both.Wait()
			if got := c.Get(ctx, "k").Val(); got != name {
				t.Errorf("GET k = %q, want %q: the other test wrote into this database", got, name)
			}
			if n := c.DBSize(ctx).Val(); n != 1 {
				t.Errorf("DBSIZE = %d, want 1", n)
			}
			db := c.Options().DB
			if db == 0 {
				t.Error("DB 0 handed out; it holds the leases")
			}
			mu.Lock()
			dbs[name] = db
			mu.Unlock()
		})
	}
	t.Cleanup(func() {
		if len(dbs) == 2 && dbs["a"] == dbs["b"] {
			t.Errorf("both tests got database %d", dbs["a"])
		}
	})
}

func TestURLIsUsableAndIsolated(t *testing.T) {
	u1, u2 := URL(t), URL(t)
	if u1 == u2 {
		t.Fatalf("two calls returned the same URL %s", u1)
	}
	for _, u := range []string{u1, u2} {
		if !strings.HasPrefix(u, "redis://") {
			t.Errorf("URL %q is not redis://", u)
		}
		o, err := redis.ParseURL(u)
		if err != nil {
			t.Fatal(err)
		}
		if o.DB == 0 {
			t.Errorf("URL %q names DB 0", u)
		}
	}
	ctx := t.Context()
	c1, c2 := ClientFor(t, u1), ClientFor(t, u2)
	if err := c1.Set(ctx, "k", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n := c2.Exists(ctx, "k").Val(); n != 0 {
		t.Errorf("key written through %s is visible through %s", u1, u2)
	}
}

// testPool is a pool over a dedicated server with ndb databases.
func testPool(t *testing.T, ndb int) (*pool, *Server) {
	t.Helper()
	s := NewServer(t, "--databases", strconv.Itoa(ndb))
	opts, err := redis.ParseURL(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	p, err := newPool(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.admin.Close() })
	if p.ndb != ndb {
		t.Fatalf("pool sees %d databases, want %d", p.ndb, ndb)
	}
	return p, s
}

// TestDatabaseIsEmptyWhenHandedOut leaves keys in every database but 0, then leases them
// all: each must come out empty.
func TestDatabaseIsEmptyWhenHandedOut(t *testing.T) {
	t.Parallel()
	const ndb = 4
	p, s := testPool(t, ndb)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for db := 1; db < ndb; db++ {
		c := ClientFor(t, strings.TrimSuffix(s.URL, "/0")+"/"+strconv.Itoa(db))
		if err := c.Set(ctx, "left-over", "x", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[int]bool{}
	for range ndb - 1 {
		db, release, err := p.acquire(ctx, t.Name())
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		if db < 1 || db >= ndb || seen[db] {
			t.Fatalf("leased database %d; already leased: %v", db, seen)
		}
		seen[db] = true
		c := redis.NewClient(clientOptions(p.opts, db))
		n, err := c.DBSize(ctx).Result()
		_ = c.Close()
		if err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("database %d handed out with %d keys", db, n)
		}
	}
	if n := p.admin.Exists(ctx, "left-over").Val(); n != 0 {
		t.Error("DB 0 was handed out")
	}
}

// TestWaitsForAFreeDatabase leases both databases of a 3-database server, then checks
// that a third lease waits until one is released, and gives up when its context ends.
func TestWaitsForAFreeDatabase(t *testing.T) {
	t.Parallel()
	p, _ := testPool(t, 3)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	_, rel1, err := p.acquire(ctx, t.Name())
	if err != nil {
		t.Fatal(err)
	}
	defer rel1()
	db2, rel2, err := p.acquire(ctx, t.Name())
	if err != nil {
		t.Fatal(err)
	}

	got := make(chan int, 1)
	go func() {
		db, rel, err := p.acquire(ctx, t.Name())
		if err != nil {
			got <- -1
			return
		}
		rel()
		got <- db
	}()
	select {
	case db := <-got:
		t.Fatalf("third lease of a 2-database pool returned %d at once", db)
	case <-time.After(300 * time.Millisecond):
	}
	rel2()
	select {
	case db := <-got:
		if db != db2 {
			t.Errorf("waiting lease got database %d, want the released %d", db, db2)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("waiting lease did not get the released database")
	}

	db3, rel3, err := p.acquire(ctx, t.Name())
	if err != nil {
		t.Fatal(err)
	}
	defer rel3()
	short, cancelShort := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancelShort()
	if db, rel, err := p.acquire(short, t.Name()); err == nil {
		rel()
		t.Fatalf("lease of a full pool (holding %d) returned database %d, want a timeout", db3, db)
	}
}

func TestServerRestartKeepsPortAndAOF(t *testing.T) {
	t.Parallel()
	s := NewServer(t, "--appendonly", "yes", "--appendfsync", "always")
	ctx := t.Context()
	c := s.Client(t)
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	addr, pid := s.Addr, s.Pid()

	s.Kill()
	if s.Running() || s.Pid() != 0 {
		t.Fatal("server still running after Kill")
	}
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("PING answered after Kill")
	}

	s.Restart()
	if s.Addr != addr {
		t.Errorf("Addr changed from %s to %s", addr, s.Addr)
	}
	if s.Pid() == pid || s.Pid() == 0 {
		t.Errorf("pid after restart = %d, before %d", s.Pid(), pid)
	}
	if got, err := c.Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Errorf("after kill and restart GET k = %q, %v; want the AOF's v", got, err)
	}
}

func TestServerStopAndStart(t *testing.T) {
	t.Parallel()
	s := NewServer(t)
	ctx := t.Context()
	c := s.Client(t)
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	s.Stop() // no-op
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("PING answered after Stop")
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING after Start: %v", err)
	}
	if n := c.Exists(ctx, "k").Val(); n != 0 {
		t.Error("key survived a restart without persistence")
	}
	if other := NewServer(t); other.Addr == s.Addr {
		t.Errorf("two servers share %s", s.Addr)
	}
}

// TestMissingRedisServer re-runs this test binary with no redis-server on PATH.
func TestMissingRedisServer(t *testing.T) {
	if os.Getenv("REDISTEST_HELPER") != "" {
		t.Skip("helper process")
	}
	if testing.Short() {
		t.Skip("re-runs the test binary")
	}
	for _, tc := range []struct {
		name, ci string
		wantFail bool
	}{
		{"local", "", false},
		{"ci", "true", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			skipLog := t.TempDir() + "/skips"
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperNeedsRedis$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), "REDISTEST_HELPER=1", "PATH=/nonexistent", EnvURL+"=", "CI="+tc.ci, EnvSkipLog+"="+skipLog)
			out, err := cmd.CombinedOutput()
			if failed := err != nil; failed != tc.wantFail {
				t.Fatalf("helper failed = %v, want %v; output:\n%s", failed, tc.wantFail, out)
			}
			for _, msg := range []string{skipNoRedis, skipNoServer} {
				if !strings.Contains(string(out), msg) {
					t.Errorf("output lacks %q:\n%s", msg, out)
				}
			}
			logged, _ := os.ReadFile(skipLog)
			if tc.wantFail {
				if len(logged) != 0 {
					t.Errorf("failures were logged as skips: %s", logged)
				}
			} else if !strings.Contains(string(logged), "./internal/redistest TestHelperNeedsRedis/client: "+skipNoRedis) ||
				!strings.Contains(string(logged), "TestHelperNeedsRedis/server: "+skipNoServer) {
				t.Errorf("skip log:\n%s", logged)
			}
		})
	}
}

func TestHelperNeedsRedis(t *testing.T) {
	if os.Getenv("REDISTEST_HELPER") == "" {
		t.Skip("run by TestMissingRedisServer")
	}
	t.Run("client", func(t *testing.T) { Client(t) })
	t.Run("server", func(t *testing.T) { NewServer(t) })
}
