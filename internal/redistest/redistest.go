// Package redistest gives integration tests a real, isolated Redis.
//
// Two kinds of Redis are on offer:
//
//   - A logical database on a shared server: URL, Options, Client. The shared server is
//     the one named by REDIS_TEST_URL when that is set (CI starts one), otherwise one
//     redis-server per test binary, started lazily on a free loopback port. Each call
//     leases a database number of its own (never 0), emptied with FLUSHDB before it is
//     handed out and returned when the test ends; when every number is leased the call
//     waits for one. Leases live in DB 0 of that server, so several test binaries may
//     share one REDIS_TEST_URL safely.
//   - A dedicated redis-server process: NewServer, for tests that stop, kill or restart
//     Redis, change its configuration or rely on server-wide state (Pub/Sub, CONFIG SET,
//     CLIENT KILL, FLUSHALL, keyspace notifications), which a shared server's databases do
//     not isolate.
//
// A package that uses the shared server calls Main from its TestMain so that the server
// is stopped when the tests end:
//
//	func TestMain(m *testing.M) { redistest.Main(m) }
//
// Without redis-server on PATH (and, for URL/Options/Client, without REDIS_TEST_URL) the
// test is skipped with a message that starts with "real Redis:"; with CI=true it fails
// instead. With -short every real-Redis test is skipped. When REDISTEST_SKIP_LOG names a
// file, each such skip appends one line to it (the Makefile prints them).
package redistest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Environment variables read by this package.
const (
	// EnvURL names a Redis server to use instead of starting one per test binary.
	EnvURL = "REDIS_TEST_URL"
	// EnvSkipLog names a file to which every real-Redis skip appends one line.
	EnvSkipLog = "REDISTEST_SKIP_LOG"
)

const (
	skipNoRedis  = "real Redis: redis-server not found on PATH; set REDIS_TEST_URL or install redis-server"
	skipNoServer = "real Redis: redis-server not found on PATH; this test starts its own Redis process, so install redis-server"
	skipShort    = "real Redis: skipped in -short mode"

	leaseKeyPrefix = "redistest:lease:"
	leaseTTL       = 2 * time.Minute
	leaseRefresh   = 20 * time.Second
	// sharedDatabases is the number of logical databases of the per-binary server.
	sharedDatabases = 64
	// maxLeaseWait bounds the wait for a free database when the test has no deadline.
	maxLeaseWait = 10 * time.Minute
)

// shared is the server behind URL, Options and Client.
type sharedState struct {
	once    sync.Once
	missing bool  // no REDIS_TEST_URL and no redis-server on PATH
	err     error // the server could not be reached or started

	base *url.URL // server URL, path (database) cleared
	pool *pool    // databases of the server
	proc *process // own redis-server; nil with REDIS_TEST_URL
}

// pool hands out the logical databases 1..ndb-1 of one server. Leases are keys in DB 0,
// so pools of several processes on one server share them.
type pool struct {
	opts  *redis.Options // server options, DB 0
	admin *redis.Client  // DB 0: leases
	ndb   int            // number of logical databases of the server
}

var shared sharedState

// Main runs the tests of m, then stops the per-binary Redis server if one was started,
// and exits with the tests' status. Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	shutdownShared()
	os.Exit(code)
}

func shutdownShared() {
	if shared.pool != nil {
		_ = shared.pool.admin.Close()
	}
	if shared.proc != nil {
		shared.proc.kill()
		_ = os.RemoveAll(shared.proc.dir)
	}
}

// URL returns a redis:// URL of a logical database that belongs to t alone until t ends.
// Every call leases another database.
func URL(t testing.TB) string {
	t.Helper()
	db := lease(t)
	u := *shared.base
	u.Path = "/" + strconv.Itoa(db)
	return u.String()
}

// Options returns go-redis options for a logical database that belongs to t alone until t
// ends. Every call leases another database.
func Options(t testing.TB) *redis.Options {
	t.Helper()
	db := lease(t)
	return clientOptions(shared.pool.opts, db)
}

// Client returns a client on a logical database that belongs to t alone until t ends. The
// client is closed when t ends. Every call leases another database;
// Client(t).Options().DB tells which.
func Client(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(Options(t))
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// ClientFor returns a client for rawURL (from URL or Server.URL), closed when t ends.
func ClientFor(t testing.TB, rawURL string) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	c := redis.NewClient(clientOptions(opts, opts.DB))
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// clientOptions copies base for database db with the settings every test client wants.
func clientOptions(base *redis.Options, db int) *redis.Options {
	o := *base
	o.DB = db
	o.DisableIdentity = true
	// A test's Redis is slow only because the machine is busy: wait for it
	// rather than fail on go-redis' 3 s default.
	o.ReadTimeout, o.WriteTimeout = SlowTimeout, SlowTimeout
	o.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	return &o
}

func lease(t testing.TB) int {
	t.Helper()
	if testing.Short() {
		skip(t, skipShort)
	}
	shared.once.Do(initShared)
	if shared.missing {
		skipOrFail(t, skipNoRedis)
	}
	if shared.err != nil {
		t.Fatalf("redistest: %v", shared.err)
	}

	deadline := time.Now().Add(maxLeaseWait)
	if td, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if d, ok := td.Deadline(); ok && d.Add(-10*time.Second).Before(deadline) {
			deadline = d.Add(-10 * time.Second)
		}
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	db, release, err := shared.pool.acquire(ctx, t.Name())
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	t.Cleanup(release)
	return db
}

func initShared() {
	if raw := os.Getenv(EnvURL); raw != "" {
		opts, err := redis.ParseURL(raw)
		if err != nil {
			shared.err = fmt.Errorf("%s: %w", EnvURL, err)
			return
		}
		u, err := url.Parse(raw)
		if err != nil {
			shared.err = fmt.Errorf("%s: %w", EnvURL, err)
			return
		}
		u.Path, u.RawPath = "", ""
		shared.base = u
		if shared.pool, err = newPool(opts); err != nil {
			shared.err = fmt.Errorf("%s=%s: %w", EnvURL, redactURL(u), err)
		}
		return
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		shared.missing = true
		return
	}
	dir, err := os.MkdirTemp("", "redistest-")
	if err != nil {
		shared.err = err
		return
	}
	p, err := startProcess(bin, dir, 0, []string{"--databases", strconv.Itoa(sharedDatabases)})
	if err != nil {
		_ = os.RemoveAll(dir)
		shared.err = err
		return
	}
	shared.proc = p
	shared.base = &url.URL{Scheme: "redis", Host: p.addr()}
	shared.pool, shared.err = newPool(&redis.Options{Addr: p.addr()})
}

// newPool connects to the server of opts and reads its number of databases.
func newPool(opts *redis.Options) (*pool, error) {
	p := &pool{opts: opts, admin: redis.NewClient(clientOptions(opts, 0))}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var err error
	for {
		if err = p.admin.Ping(ctx).Err(); err == nil || ctx.Err() != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		_ = p.admin.Close()
		return nil, fmt.Errorf("redis does not answer PING: %w", err)
	}
	p.ndb = 16 // the default, for servers that refuse CONFIG GET
	if cfg, err := p.admin.ConfigGet(ctx, "databases").Result(); err == nil {
		if n, err := strconv.Atoi(cfg["databases"]); err == nil && n > 0 {
			p.ndb = n
		}
	}
	if p.ndb < 2 {
		_ = p.admin.Close()
		return nil, errors.New("the server has a single database; redistest needs at least 2 (DB 0 holds the leases)")
	}
	return p, nil
}

// acquireScript leases the first free database in 1..ARGV[3]-1, starting at ARGV[4].
// It returns the database number, or 0 when all are leased.
var acquireScript = redis.NewScript(`
local n = tonumber(ARGV[3]) - 1
local start = tonumber(ARGV[4])
for k = 0, n - 1 do
  local db = 1 + (start + k) % n
  if redis.call('SET', ARGV[5] .. db, ARGV[1], 'NX', 'PX', ARGV[2]) then
    return db
  end
end
return 0
`)

// refreshScript extends a lease that is still ours, or takes it back if it expired.
var refreshScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
elseif not v then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
`)

// releaseScript deletes a lease that is still ours.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// acquire leases one of the databases 1..ndb-1, empties it and keeps the lease alive until
// release is called. It waits for a free database until ctx ends.
func (s *pool) acquire(ctx context.Context, name string) (db int, release func(), err error) {
	ndb := s.ndb
	token := fmt.Sprintf("pid=%d test=%s nonce=%d", os.Getpid(), name, rand.Uint64())
	ttl := strconv.FormatInt(leaseTTL.Milliseconds(), 10)
	wait := 10 * time.Millisecond
	for {
		start := rand.IntN(ndb - 1)
		db, err = acquireScript.Run(ctx, s.admin, nil, token, ttl, ndb, start, leaseKeyPrefix).Int()
		if err != nil {
			return 0, nil, fmt.Errorf("leasing a database: %w", err)
		}
		if db > 0 {
			break
		}
		select {
		case <-ctx.Done():
			return 0, nil, fmt.Errorf("all %d Redis databases stayed leased by other tests: %w", ndb-1, ctx.Err())
		case <-time.After(wait + rand.N(wait)):
		}
		wait = min(2*wait, 200*time.Millisecond)
	}
	key := leaseKeyPrefix + strconv.Itoa(db)

	if err := s.flush(ctx, db); err != nil {
		_ = releaseScript.Run(context.Background(), s.admin, []string{key}, token).Err()
		return 0, nil, fmt.Errorf("FLUSHDB %d: %w", db, err)
	}

	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(leaseRefresh)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_ = refreshScript.Run(ctx, s.admin, []string{key}, token, ttl).Err()
				cancel()
			}
		}
	}()
	var once sync.Once
	release = func() {
		once.Do(func() {
			close(stop)
			<-done
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = s.flush(ctx, db) // free the memory now; the next lease flushes again anyway
			_ = releaseScript.Run(ctx, s.admin, []string{key}, token).Err()
		})
	}
	return db, release, nil
}

func (s *pool) flush(ctx context.Context, db int) error {
	o := clientOptions(s.opts, db)
	o.PoolSize = 1
	c := redis.NewClient(o)
	defer func() { _ = c.Close() }()
	return c.FlushDB(ctx).Err()
}

// skipOrFail skips t, or fails it under CI=true, where a missing Redis is an error.
func skipOrFail(t testing.TB, reason string) {
	t.Helper()
	if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
		t.Fatal(reason + " (CI=true: a missing Redis is a failure, not a skip)")
	}
	skip(t, reason)
}

func skip(t testing.TB, reason string) {
	t.Helper()
	logSkip(t, reason)
	t.Skip(reason)
}

var skipLogMu sync.Mutex

// logSkip appends "<package dir> <test>: <reason>" to the file named by REDISTEST_SKIP_LOG.
func logSkip(t testing.TB, reason string) {
	path := os.Getenv(EnvSkipLog)
	if path == "" {
		return
	}
	skipLogMu.Lock()
	defer skipLogMu.Unlock()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	defer func() { _ = f.Close() }()
	_, _ = fmt.Fprintf(f, "%s %s: %s\n", packageDir(), t.Name(), reason)
}

// packageDir is the directory of the package under test relative to its module root
// ("./internal/store"), or the absolute directory when no go.mod is found.
func packageDir() string {
	wd, err := os.Getwd()
	if err != nil {
		return "?"
	}
	for dir := wd; ; {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			rel, err := filepath.Rel(dir, wd)
			if err != nil {
				return wd
			}
			return "./" + filepath.ToSlash(rel)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return wd
		}
		dir = parent
	}
}

func redactURL(u *url.URL) string {
	c := *u
	if c.User != nil {
		if _, ok := c.User.Password(); ok {
			c.User = url.UserPassword(c.User.Username(), "xxxxx")
		}
	}
	return strings.TrimSuffix(c.String(), "/")
}
