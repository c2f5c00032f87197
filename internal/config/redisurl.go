package config

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Kinds of Redis deployment a REDIS_URL can name (see RedisKind).
const (
	RedisEmbedded   = "embedded"
	RedisStandalone = "standalone"
	RedisTLS        = "tls"
	RedisSentinel   = "sentinel"
	RedisCluster    = "cluster"
)

// Client defaults shared by every kind of deployment.
const (
	redisDialTimeout  = 5 * time.Second
	redisReadTimeout  = 3 * time.Second
	redisWriteTimeout = 3 * time.Second
	redisDefaultPort  = "6379"
	// Sentinels listen on their own port; a redis-sentinel:// address without a
	// port means a sentinel, not a data node.
	sentinelDefaultPort = "26379"
)

var schemeKinds = map[string]string{
	"redis":          RedisStandalone,
	"rediss":         RedisTLS,
	"redis-sentinel": RedisSentinel,
	"redis-cluster":  RedisCluster,
}

// Only query keys of redis-sentinel:// URLs; the other forms take none, so that
// a misspelt or unsupported option fails loudly instead of being ignored.
var sentinelQueryKeys = []string{"master", "sentinel_password", "sentinel_username"}

var (
	schemeShape = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]{0,31}$`)
	hostShape   = regexp.MustCompile(`^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$`)
)

// redisURL is a REDIS_URL split into its parts. It is parsed by hand because
// net/url accepts neither a comma-separated host list nor reports its errors
// without quoting the input, which may hold a password.
type redisURL struct {
	scheme  string
	kind    string
	user    string
	pass    string
	hasUser bool
	hasPass bool
	addrs   []string // host:port, default port filled in
	db      int
	query   url.Values
}

// RedisKind tells which deployment raw names: "embedded" for an empty string,
// "standalone", "tls", "sentinel" or "cluster" by scheme, "unknown" otherwise.
// It looks at the scheme only; ParseRedisURL does the validation.
func RedisKind(raw string) string {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return RedisEmbedded
	}
	scheme, _, ok := strings.Cut(raw, "://")
	if !ok {
		return "unknown"
	}
	if kind, ok := schemeKinds[strings.ToLower(scheme)]; ok {
		return kind
	}
	return "unknown"
}

// ParseRedisURL turns one of SPEC §2's REDIS_URL forms into go-redis options
// for redis.NewUniversalClient, which picks the client from them: failover when
// MasterName is set, cluster when IsClusterMode is set, a plain client otherwise.
// Error messages never quote the user name, the passwords or the raw URL.
func ParseRedisURL(raw string) (*redis.UniversalOptions, error) {
	u, err := splitRedisURL(raw)
	if err != nil {
		return nil, err
	}
	opts := &redis.UniversalOptions{
		Addrs:    u.addrs,
		Username: u.user,
		Password: u.pass,
		DB:       u.db,
		// The production Redis (7.0) answers CLIENT SETINFO with an error.
		DisableIdentity: true,
		DialTimeout:     redisDialTimeout,
		ReadTimeout:     redisReadTimeout,
		WriteTimeout:    redisWriteTimeout,
	}
	switch u.kind {
	case RedisTLS:
		host, _, _ := net.SplitHostPort(u.addrs[0])
		opts.TLSConfig = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	case RedisSentinel:
		opts.MasterName = u.query.Get("master")
		opts.SentinelUsername = u.query.Get("sentinel_username")
		opts.SentinelPassword = u.query.Get("sentinel_password")
	case RedisCluster:
		// Without it a single seed address would get a plain client.
		opts.IsClusterMode = true
	}
	return opts, nil
}

func splitRedisURL(raw string) (*redisURL, error) {
	raw = strings.TrimSpace(raw)
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || !schemeShape.MatchString(scheme) {
		return nil, errors.New("not a URL: want redis://host:port/db, rediss://…, redis-sentinel://… or redis-cluster://…")
	}
	u := &redisURL{scheme: strings.ToLower(scheme)}
	if u.kind, ok = schemeKinds[u.scheme]; !ok {
		return nil, fmt.Errorf("unknown scheme %q: want redis, rediss, redis-sentinel or redis-cluster", scheme)
	}

	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	// An '@' after the host means a user name or password holding '/', '?' or
	// '#' was not percent-encoded; everything would be misread from there on.
	// Rejecting it also keeps the host, path and query free of secrets, so the
	// messages below may quote them.
	if strings.Contains(tail, "@") {
		return nil, errors.New("malformed URL: percent-encode '/', '?', '#' and '@' in the user name and password")
	}
	if strings.Contains(tail, "#") {
		return nil, errors.New("malformed URL: a fragment (#…) is not allowed")
	}
	hosts := authority
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		if err := u.setUserinfo(authority[:at]); err != nil {
			return nil, err
		}
		hosts = authority[at+1:]
	}
	if err := u.setAddrs(hosts); err != nil {
		return nil, err
	}
	path, rawQuery, _ := strings.Cut(tail, "?")
	if err := u.setDB(path); err != nil {
		return nil, err
	}
	if err := u.setQuery(rawQuery); err != nil {
		return nil, err
	}
	return u, nil
}

func (u *redisURL) setUserinfo(info string) error {
	user, pass, hasPass := strings.Cut(info, ":")
	var err1, err2 error
	u.user, err1 = url.PathUnescape(user)
	u.pass, err2 = url.PathUnescape(pass)
	if err1 != nil || err2 != nil {
		return errors.New("malformed URL: bad percent-encoding in the user name or password")
	}
	u.hasUser, u.hasPass = true, hasPass
	return nil
}

func (u *redisURL) setAddrs(hosts string) error {
	if hosts == "" {
		return errors.New("malformed URL: no host")
	}
	port := redisDefaultPort
	if u.kind == RedisSentinel {
		port = sentinelDefaultPort
	}
	parts := strings.Split(hosts, ",")
	if len(parts) > 1 && (u.kind == RedisStandalone || u.kind == RedisTLS) {
		return fmt.Errorf("%s:// takes one host; use redis-sentinel:// or redis-cluster:// for several", u.scheme)
	}
	seen := make(map[string]bool, len(parts))
	for i, p := range parts {
		addr, err := normalizeAddr(p, port)
		if err != nil {
			if len(parts) > 1 {
				return fmt.Errorf("host %d of %d: %w", i+1, len(parts), err)
			}
			return err
		}
		if seen[addr] {
			return fmt.Errorf("host %q is listed twice", addr)
		}
		seen[addr] = true
		u.addrs = append(u.addrs, addr)
	}
	return nil
}

// normalizeAddr validates one host[:port] and fills in the default port.
func normalizeAddr(hostport, defaultPort string) (string, error) {
	if hostport == "" {
		return "", errors.New("empty host")
	}
	host, port := hostport, ""
	switch {
	case strings.HasPrefix(hostport, "[") && strings.HasSuffix(hostport, "]"):
		host = hostport[1 : len(hostport)-1]
	case strings.HasPrefix(hostport, "[") || strings.Count(hostport, ":") == 1:
		var err error
		if host, port, err = net.SplitHostPort(hostport); err != nil {
			return "", fmt.Errorf("malformed host %q", hostport)
		}
	case strings.Contains(hostport, ":"):
		return "", fmt.Errorf("malformed host %q (put IPv6 addresses in brackets)", hostport)
	}
	if strings.Contains(host, ":") {
		if net.ParseIP(host) == nil {
			return "", fmt.Errorf("malformed IPv6 address %q", host)
		}
	} else if !hostShape.MatchString(host) {
		return "", fmt.Errorf("malformed host %q", host)
	}
	if port == "" {
		port = defaultPort
	} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("port %q is not a number from 1 to 65535", port)
	}
	return net.JoinHostPort(host, port), nil
}

func (u *redisURL) setDB(path string) error {
	db := strings.TrimPrefix(path, "/")
	if db == "" {
		return nil
	}
	n, err := strconv.Atoi(db)
	if err != nil || n < 0 || strings.HasPrefix(db, "+") {
		return fmt.Errorf("database %q is not a non-negative whole number", db)
	}
	if u.kind == RedisCluster && n != 0 {
		return fmt.Errorf("database %d: a Redis cluster has only database 0; leave the path empty", n)
	}
	u.db = n
	return nil
}

func (u *redisURL) setQuery(rawQuery string) error {
	if rawQuery == "" {
		if u.kind == RedisSentinel {
			return errors.New("redis-sentinel:// needs ?master=NAME")
		}
		return nil
	}
	if u.kind != RedisSentinel {
		return fmt.Errorf("%s:// takes no query parameters", u.scheme)
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		// The parse error may quote part of sentinel_password.
		return errors.New("malformed query string")
	}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !slices.Contains(sentinelQueryKeys, k) {
			return fmt.Errorf("unknown query parameter %q: want %s", k, strings.Join(sentinelQueryKeys, ", "))
		}
		if len(q[k]) > 1 {
			return fmt.Errorf("query parameter %q is given more than once", k)
		}
	}
	if strings.TrimSpace(q.Get("master")) == "" {
		return errors.New("redis-sentinel:// needs ?master=NAME")
	}
	u.query = q
	return nil
}

// redactRedisURL rewrites raw for logs: passwords become "***". An invalid URL
// gives a placeholder rather than risk printing a secret.
func redactRedisURL(raw string) string {
	if strings.TrimSpace(raw) == "" {
		return ""
	}
	u, err := splitRedisURL(raw)
	if err != nil {
		return "(invalid)"
	}
	var b strings.Builder
	b.WriteString(u.scheme + "://")
	if u.hasUser {
		b.WriteString(url.User(u.user).String())
		if u.hasPass {
			b.WriteString(":***")
		}
		b.WriteByte('@')
	}
	b.WriteString(strings.Join(u.addrs, ","))
	if u.kind != RedisCluster {
		fmt.Fprintf(&b, "/%d", u.db)
	}
	sep := "?"
	for _, k := range sentinelQueryKeys {
		if !u.query.Has(k) {
			continue
		}
		v := url.QueryEscape(u.query.Get(k))
		if k == "sentinel_password" {
			v = "***"
		}
		b.WriteString(sep + k + "=" + v)
		sep = "&"
	}
	return b.String()
}

// AsynqRedisOpt hands parsed options to asynq (asynq.NewClient, NewServer,
// NewInspector accept any value with this MakeRedisClient method), so asynq
// gets the user name, TLS, sentinel and cluster exactly as go-redis does.
type AsynqRedisOpt struct {
	opts redis.UniversalOptions
}

// NewAsynqRedisOpt copies opts; later changes to opts do not reach asynq.
func NewAsynqRedisOpt(opts *redis.UniversalOptions) AsynqRedisOpt {
	return AsynqRedisOpt{opts: cloneOptions(opts)}
}

// MakeRedisClient returns a new redis.UniversalClient each call, as asynq
// expects: asynq closes the clients it made.
func (o AsynqRedisOpt) MakeRedisClient() interface{} {
	opts := cloneOptions(&o.opts)
	return redis.NewUniversalClient(&opts)
}

// cloneOptions copies the parts that clients may mutate or share.
func cloneOptions(opts *redis.UniversalOptions) redis.UniversalOptions {
	c := *opts
	c.Addrs = slices.Clone(opts.Addrs)
	if opts.TLSConfig != nil {
		c.TLSConfig = opts.TLSConfig.Clone()
	}
	return c
}
