package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a child process (redis-server, api or worker) whose output goes
// to a file in the bench's temp dir. The kernel kills it when the bench dies
// (Pdeathsig), and killAll ends every one still running at exit.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

var (
	procsMu sync.Mutex
	procs   []*proc
)

func startProc(ctx context.Context, dir, name, bin string, args []string, env map[string]string) (*proc, error) {
	logPath := filepath.Join(dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		cmd.Env = append(cmd.Env, k+"="+env[k])
	}
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	procsMu.Lock()
	procs = append(procs, p)
	procsMu.Unlock()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and waits up to grace for the exit, then kills.
func (p *proc) stop(grace time.Duration) {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// killAll ends every child still running; used on every way out of main.
func killAll() {
	procsMu.Lock()
	defer procsMu.Unlock()
	for _, p := range procs {
		if !p.exited() {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
}

func (p *proc) output() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

// tail returns the last n lines of the process output.
func (p *proc) tail(n int) string {
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader([]byte(p.output())))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitLog waits until re matches the output and returns the submatches.
func (p *proc) waitLog(ctx context.Context, re *regexp.Regexp, within time.Duration) ([]string, error) {
	deadline := time.Now().Add(within)
	for {
		if m := re.FindStringSubmatch(p.output()); m != nil {
			return m, nil
		}
		if p.exited() {
			return nil, fmt.Errorf("%s exited:\n%s", p.name, p.tail(20))
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s: no %q within %v:\n%s", p.name, re, within, p.tail(20))
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// peakRSSMB is VmHWM of the running process, in MiB.
func (p *proc) peakRSSMB() (float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest) // "123456 kB"
			if len(f) == 2 && f[1] == "kB" {
				kb, err := strconv.ParseFloat(f[0], 64)
				return kb / 1024, err
			}
		}
	}
	return 0, errors.New("no VmHWM in /proc status")
}

// freePort asks the kernel for a free loopback port.
func freePort(ctx context.Context) (int, error) {
	l, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startRedis starts redis-server without persistence on a free loopback
// port and waits until it answers.
func startRedis(ctx context.Context, dir string) (*proc, string, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, "", errors.New("redis-server not found on PATH (Debian: apt-get install redis-server)")
	}
	rdir := filepath.Join(dir, "redis")
	if err := os.MkdirAll(rdir, 0o750); err != nil {
		return nil, "", err
	}
	var lastErr error
	for range 5 {
		port, err := freePort(ctx)
		if err != nil {
			return nil, "", err
		}
		args := []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "",
			"--appendonly", "no", "--dir", rdir, "--protected-mode", "no", "--loglevel", "warning"}
		p, err := startProc(ctx, dir, "redis", bin, args, nil)
		if err != nil {
			return nil, "", err
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		if lastErr = waitPing(ctx, p, addr); lastErr == nil {
			return p, "redis://" + addr + "/0", nil
		}
		p.stop(time.Second)
	}
	return nil, "", fmt.Errorf("start redis-server: %w", lastErr)
}

func waitPing(ctx context.Context, p *proc, addr string) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("redis-server exited: %s", p.tail(5))
		}
		d := net.Dialer{Timeout: time.Second}
		if c, err := d.DialContext(ctx, "tcp", addr); err == nil {
			_ = c.SetDeadline(time.Now().Add(time.Second))
			_, _ = c.Write([]byte("PING\r\n"))
			buf := make([]byte, 16)
			n, _ := c.Read(buf)
			_ = c.Close()
			if strings.HasPrefix(string(buf[:n]), "+PONG") {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(30 * time.Millisecond):
		}
	}
	return errors.New("redis-server does not answer PING")
}

// buildPrograms builds cmd/api and cmd/worker (no -race) into dir.
func buildPrograms(ctx context.Context, dir string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = "/usr/local/go/bin/go"
	}
	out, err := exec.CommandContext(ctx, goBin, "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return errors.New("run the bench inside the module (go run ./bench from the repository root)")
	}
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", dir+string(os.PathSeparator), "./cmd/api", "./cmd/worker")
	cmd.Dir = filepath.Dir(gomod)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build ./cmd/api ./cmd/worker: %w", err)
	}
	return nil
}
