package config

import (
	"context"
	"crypto/tls"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

func TestParseRedisURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw        string
		addrs      []string
		user, pass string
		db         int
		master     string
		sentPass   string
		tlsHost    string // "" means no TLS
		cluster    bool
		kind       string
	}{
		{raw: "redis://localhost", addrs: []string{"localhost:6379"}, kind: "standalone"},
		{raw: "redis://localhost:6379/", addrs: []string{"localhost:6379"}, kind: "standalone"},
		{raw: "REDIS://Redis.Example:6380/15", addrs: []string{"Redis.Example:6380"}, db: 15, kind: "standalone"},
		{raw: "redis://user:p%40ss%2Fw@redis.example:6380/2", addrs: []string{"redis.example:6380"}, user: "user", pass: "p@ss/w", db: 2, kind: "standalone"},
		{raw: "redis://:pw@10.0.0.5/1", addrs: []string{"10.0.0.5:6379"}, pass: "pw", db: 1, kind: "standalone"},
		{raw: "redis://default@h", addrs: []string{"h:6379"}, user: "default", kind: "standalone"},
		{raw: "redis://[::1]:6380/0", addrs: []string{"[::1]:6380"}, kind: "standalone"},
		{raw: "redis://[::1]", addrs: []string{"[::1]:6379"}, kind: "standalone"},
		{raw: "rediss://u:pw@secure.example:6380/1", addrs: []string{"secure.example:6380"}, user: "u", pass: "pw", db: 1, tlsHost: "secure.example", kind: "tls"},
		{
			raw:   "redis-sentinel://u:pw@s1:26379,s2,s3:26381/3?master=mymaster&sentinel_password=sp",
			addrs: []string{"s1:26379", "s2:26379", "s3:26381"}, user: "u", pass: "pw", db: 3,
			master: "mymaster", sentPass: "sp", kind: "sentinel",
		},
		{raw: "redis-sentinel://s1?master=m", addrs: []string{"s1:26379"}, master: "m", kind: "sentinel"},
		{raw: "redis-cluster://u:pw@n1:7000,n2:7001,n3", addrs: []string{"n1:7000", "n2:7001", "n3:6379"}, user: "u", pass: "pw", cluster: true, kind: "cluster"},
		{raw: "redis-cluster://cfg.example:7000", addrs: []string{"cfg.example:7000"}, cluster: true, kind: "cluster"},
		{raw: "redis-cluster://n1:7000/0", addrs: []string{"n1:7000"}, cluster: true, kind: "cluster"},
	}
	for _, tc := range tests {
		t.Run(tc.raw, func(t *testing.T) {
			t.Parallel()
			o, err := ParseRedisURL(tc.raw)
			if err != nil {
				t.Fatalf("ParseRedisURL: %v", err)
			}
			if !reflect.DeepEqual(o.Addrs, tc.addrs) {
				t.Errorf("Addrs = %q, want %q", o.Addrs, tc.addrs)
			}
			if o.Username != tc.user || o.Password != tc.pass || o.DB != tc.db {
				t.Errorf("user, pass, db = %q, %q, %d; want %q, %q, %d", o.Username, o.Password, o.DB, tc.user, tc.pass, tc.db)
			}
			if o.MasterName != tc.master || o.SentinelPassword != tc.sentPass {
				t.Errorf("master, sentinel pass = %q, %q; want %q, %q", o.MasterName, o.SentinelPassword, tc.master, tc.sentPass)
			}
			if o.IsClusterMode != tc.cluster {
				t.Errorf("IsClusterMode = %v, want %v", o.IsClusterMode, tc.cluster)
			}
			switch {
			case tc.tlsHost == "" && o.TLSConfig != nil:
				t.Errorf("unexpected TLSConfig")
			case tc.tlsHost != "" && o.TLSConfig == nil:
				t.Errorf("TLSConfig is nil")
			case tc.tlsHost != "" && (o.TLSConfig.ServerName != tc.tlsHost || o.TLSConfig.MinVersion != tls.VersionTLS12):
				t.Errorf("TLSConfig = %q/%x", o.TLSConfig.ServerName, o.TLSConfig.MinVersion)
			}
			if !o.DisableIdentity || o.DialTimeout != 5*time.Second || o.ReadTimeout != 3*time.Second || o.WriteTimeout != 3*time.Second {
				t.Errorf("client defaults not set: %+v", o)
			}
			if k := RedisKind(tc.raw); k != tc.kind {
				t.Errorf("RedisKind = %q, want %q", k, tc.kind)
			}
		})
	}
}

// TestUniversalClientKind checks that go-redis picks the intended client from
// the options; the clients connect lazily, so no server is needed.
func TestUniversalClientKind(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw  string
		want any
	}{
		{"redis://h:1/0", &redis.Client{}},
		{"rediss://h:1/0", &redis.Client{}},
		{"redis-sentinel://a:1,b:2/0?master=m", &redis.Client{}},
		{"redis-cluster://a:1", &redis.ClusterClient{}},
		{"redis-cluster://a:1,b:2", &redis.ClusterClient{}},
	}
	for _, tc := range tests {
		o, err := ParseRedisURL(tc.raw)
		if err != nil {
			t.Fatal(err)
		}
		c := NewAsynqRedisOpt(o).MakeRedisClient().(redis.UniversalClient)
		if reflect.TypeOf(c) != reflect.TypeOf(tc.want) {
			t.Errorf("%s: client %T, want %T", tc.raw, c, tc.want)
		}
		_ = c.Close()
	}
}

func TestParseRedisURLErrors(t *testing.T) {
	t.Parallel()
	const secret = "hunter2"
	tests := []struct{ raw, want string }{
		{"", "not a URL"},
		{"localhost:6379", "not a URL"},
		{secret, "not a URL"},
		{"http://u:" + secret + "@h", "unknown scheme"},
		{"unix://u:" + secret + "@/tmp/redis.sock", "unknown scheme"},
		{"redis://", "no host"},
		{"redis://u:" + secret + "@", "no host"},
		{"redis://u:" + secret + "@h:port/0", "port"},
		{"redis://u:" + secret + "@h:0", "port"},
		{"redis://u:" + secret + "@h:65536", "port"},
		{"redis://u:" + secret + "@::1/0", "brackets"},
		{"redis://u:" + secret + "@h$st/0", "malformed host"},
		{"redis://u:" + secret + "@h/x", "database"},
		{"redis://u:" + secret + "@h/-1", "database"},
		{"redis://u:" + secret + "@h/1/2", "database"},
		{"redis://u:" + secret + "@a,b", "one host"},
		{"rediss://u:" + secret + "@a,b", "one host"},
		{"redis://u:" + secret + "@h/0?db=1", "no query"},
		{"redis://u:" + secret + "@h/0#frag", "fragment"},
		{"redis://u:a/" + secret + "@h/0", "percent-encode"},
		{"redis://u:a?" + secret + "@h/0", "percent-encode"},
		{"redis://u:%zz" + secret + "@h/0", "percent-encoding"},
		{"redis-sentinel://u:" + secret + "@a,b/0", "master"},
		{"redis-sentinel://a/0?master=", "master"},
		{"redis-sentinel://a/0?master=m&sentinel_password=%zz" + secret, "malformed query"},
		{"redis-sentinel://a/0?master=m&mastr=n", "unknown query parameter"},
		{"redis-sentinel://a/0?master=m&master=n", "more than once"},
		{"redis-sentinel://a,,b/0?master=m", "host 2 of 3: empty host"},
		{"redis-cluster://u:" + secret + "@a,b/3", "only database 0"},
		{"redis-cluster://a:1,a:1", "listed twice"},
	}
	for _, tc := range tests {
		t.Run(tc.raw, func(t *testing.T) {
			t.Parallel()
			_, err := ParseRedisURL(tc.raw)
			if err == nil {
				t.Fatal("ParseRedisURL succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to mention %q", err, tc.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q leaks the secret", err)
			}
		})
	}
}

func TestRedactedRedisURL(t *testing.T) {
	t.Parallel()
	tests := []struct{ raw, want string }{
		{"", ""},
		{"redis://h", "redis://h:6379/0"},
		{"redis://u:hunter2@h:1/2", "redis://u:***@h:1/2"},
		{"redis://:hunter2@h:1/2", "redis://:***@h:1/2"},
		{"rediss://u@h:1", "rediss://u@h:1/0"},
		{"redis-cluster://u:hunter2@a:1,b:2", "redis-cluster://u:***@a:1,b:2"},
		{"redis-sentinel://a:1/0?sentinel_password=hunter2&master=m", "redis-sentinel://a:1/0?master=m&sentinel_password=***"},
		{"http://u:hunter2@h", "(invalid)"},
	}
	for _, tc := range tests {
		if got := RedactedRedisURL(tc.raw); got != tc.want {
			t.Errorf("RedactedRedisURL(%q) = %q, want %q", tc.raw, got, tc.want)
		}
	}
}

func TestRedisKind(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		"": "embedded", "  ": "embedded", "redis://h": "standalone", "rediss://h": "tls",
		"redis-sentinel://h?master=m": "sentinel", "redis-cluster://h": "cluster",
		"http://h": "unknown", "h:6379": "unknown",
	} {
		if got := RedisKind(raw); got != want {
			t.Errorf("RedisKind(%q) = %q, want %q", raw, got, want)
		}
	}
}

// TestAsynqRedisOptConnects runs the parsed options against a server that
// demands a user and password, as an ACL-protected Redis does.
func TestAsynqRedisOptConnects(t *testing.T) {
	t.Parallel()
	srv := miniredis.RunT(t)
	srv.RequireUserAuth("app", "p@ss")
	o, err := ParseRedisURL("redis://app:p%40ss@" + srv.Addr() + "/0")
	if err != nil {
		t.Fatal(err)
	}
	opt := NewAsynqRedisOpt(o)
	o.Addrs[0] = "changed:1" // the copy must not see this
	c := opt.MakeRedisClient().(redis.UniversalClient)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET through parsed options: %v", err)
	}
	if got := srv.DB(0).Exists("k"); !got {
		t.Error("key not written")
	}
}
