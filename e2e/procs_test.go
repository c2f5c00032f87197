// Package e2e runs the built programs as separate processes against a real
// Redis and a loopback fake provider, as an operator would run them.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/campaignsms/campaignsms/internal/redistest"
)

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	cmd := exec.Command("go", "build", "-race", "-o", dir+string(os.PathSeparator), "../cmd/api", "../cmd/worker")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build programs:", err)
		os.Exit(1)
	}
	defer os.RemoveAll(dir)
	redistest.Main(m)
}

// proc is one running program with its output kept in a file.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startProc starts bin with env and stops it (SIGTERM, then SIGKILL) when the test ends.
func startProc(t *testing.T, name, bin string, env map[string]string) *proc {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, bin))
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &proc{name: name, cmd: cmd, out: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
			p.signal(syscall.SIGKILL)
			<-p.done
		}
		if t.Failed() {
			t.Logf("--- %s output (tail) ---\n%s", name, tail(p.out.String(), 40))
		}
	})
	return p
}

func (p *proc) signal(s syscall.Signal) { _ = p.cmd.Process.Signal(s) }

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

var listenRe = regexp.MustCompile(`"msg":"api listening","addr":"([^"]+)"`)

// waitLog waits until re matches the process output and returns the match.
func (p *proc) waitLog(t *testing.T, re *regexp.Regexp, within time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if m := re.FindStringSubmatch(p.out.String()); m != nil {
			return m
		}
		if p.exited() {
			t.Fatalf("%s exited:\n%s", p.name, tail(p.out.String(), 30))
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no %q within %v:\n%s", p.name, re, within, tail(p.out.String(), 30))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *proc) count(substr string) int { return strings.Count(p.out.String(), substr) }

func tail(s string, n int) string {
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// api is a client of a running API.
type api struct {
	base, token string
}

func (a api) call(t *testing.T, method, path, body string, hdr ...string) (int, map[string]any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := doRetrying(ctx, req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

// doRetrying sends req, and for a GET tries again on a connection error (a
// keep-alive connection the server closed, a program restarting): reading
// is idempotent, and a busy machine drops the odd connection.
func doRetrying(ctx context.Context, req *http.Request) (*http.Response, error) {
	wait := 50 * time.Millisecond
	for {
		resp, err := http.DefaultClient.Do(req)
		if err == nil || req.Method != http.MethodGet || ctx.Err() != nil {
			return resp, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

// waitDone polls an initiation until nothing is pending, checking at every
// read that the parts add up.
func (a api) waitDone(t *testing.T, id string, within time.Duration) map[string]any {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		code, st := a.call(t, "GET", "/api/v1/initiations/"+id, "")
		if code >= 500 && time.Now().Before(deadline) {
			// Redis is away (a fault scenario): the API says so; ask again.
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if code != 200 {
			t.Fatalf("status %d: %v", code, st)
		}
		r := st["results"].(map[string]any)
		var parts float64
		for _, k := range []string{"sent", "failed", "skipped", "cancelled", "pending"} {
			parts += r[k].(float64)
		}
		if parts != r["customersSelected"].(float64) {
			t.Fatalf("parts %v != customersSelected: %v", parts, r)
		}
		if r["pending"].(float64) == 0 {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("still pending after %v: %v", within, r)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
