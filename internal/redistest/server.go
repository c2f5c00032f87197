package redistest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	readyTimeout = 15 * time.Second
	stopTimeout  = 10 * time.Second
	logName      = "redis.log"
)

// Server is a redis-server process of one test, stopped when the test ends.
// Its port and directory stay the same across Stop, Kill and Restart, so clients
// reconnect to it and an append-only file or RDB snapshot in Dir survives.
type Server struct {
	Addr string // "127.0.0.1:port"
	URL  string // "redis://127.0.0.1:port/0"
	Dir  string // working directory: redis.log, and the AOF or RDB files if enabled

	t    testing.TB
	bin  string
	port int
	args []string

	mu   sync.Mutex
	proc *process // nil while stopped
}

// NewServer starts a dedicated redis-server for t on a free loopback port, with no
// persistence unless args say otherwise (they are appended to the command line, so
// "--appendonly", "yes" wins). It waits until the server answers PING and kills it when
// t ends. It needs redis-server on PATH even when REDIS_TEST_URL is set.
func NewServer(t testing.TB, args ...string) *Server {
	t.Helper()
	if testing.Short() {
		skip(t, skipShort)
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		skipOrFail(t, skipNoServer)
	}
	s := &Server{t: t, bin: bin, Dir: t.TempDir(), args: append([]string(nil), args...)}
	p, err := startProcess(bin, s.Dir, 0, s.args)
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	s.proc, s.port = p, p.port
	s.Addr = p.addr()
	s.URL = "redis://" + s.Addr + "/0"
	t.Cleanup(func() {
		s.Kill()
		if t.Failed() {
			t.Logf("redistest: tail of %s:\n%s", filepath.Join(s.Dir, logName), tailFile(filepath.Join(s.Dir, logName), 40))
		}
	})
	return s
}

// Client returns a client on database 0 of s, closed when t ends. go-redis reconnects
// by itself after a Restart.
func (s *Server) Client(t testing.TB) *redis.Client {
	t.Helper()
	return ClientFor(t, s.URL)
}

// Pid is the process id of the running server, or 0 while it is stopped.
func (s *Server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return 0
	}
	return s.proc.cmd.Process.Pid
}

// Running reports whether the server process is alive.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc != nil && !s.proc.exitedNow()
}

// Stop shuts the server down gracefully (SIGTERM: Redis writes its AOF/RDB if configured)
// and waits for the process to exit. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		s.proc.stop()
		s.proc = nil
	}
}

// Kill ends the server with SIGKILL, as a crash would, and waits for the process to exit.
// Killing a stopped server does nothing.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		s.proc.kill()
		s.proc = nil
	}
}

// Start starts a stopped or killed server again, on the same port, directory and
// arguments, and waits until it answers PING (after loading its AOF or RDB, if any).
// Starting a running server does nothing. Safe to call from any goroutine.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil && !s.proc.exitedNow() {
		return nil
	}
	var err error
	// The port was ours a moment ago; retry briefly in case the kernel still holds it.
	deadline := time.Now().Add(readyTimeout)
	for {
		var p *process
		p, err = startProcess(s.bin, s.Dir, s.port, s.args)
		if err == nil {
			s.proc = p
			return nil
		}
		if !errors.Is(err, errPortInUse) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Restart stops the server gracefully if it runs, then starts it again on the same port
// and directory. It fails the test if the server does not come back; call it from the
// test's goroutine (use Stop or Kill and Start elsewhere).
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	if err := s.Start(); err != nil {
		s.t.Fatalf("redistest: restart: %v", err)
	}
}

var errPortInUse = errors.New("port in use")

// process is one running redis-server.
type process struct {
	cmd     *exec.Cmd
	dir     string
	port    int
	exited  chan struct{} // closed when the process has exited
	waitErr error         // valid after exited is closed
}

func (p *process) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port)) }

func (p *process) exitedNow() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

func (p *process) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(stopTimeout):
		p.kill()
	}
}

func (p *process) kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// startProcess starts redis-server in dir on port (0: a free port, retried a few times if
// another process takes it first) and waits until it answers PING.
func startProcess(bin, dir string, port int, extra []string) (*process, error) {
	if port != 0 {
		return launch(bin, dir, port, extra)
	}
	var err error
	for range 5 {
		port, err = freePort()
		if err != nil {
			return nil, err
		}
		var p *process
		p, err = launch(bin, dir, port, extra)
		if !errors.Is(err, errPortInUse) {
			return p, err
		}
	}
	return nil, err
}

func freePort() (int, error) {
	var lc net.ListenConfig
	l, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func launch(bin, dir string, port int, extra []string) (*process, error) {
	args := []string{
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", dir,
		"--daemonize", "no",
		"--logfile", "",
	}
	args = append(args, extra...)
	return spawn(bin, dir, port, logName, args)
}

// spawn starts bin with args in dir, its output appended to dir/logName, and
// waits until the Redis it starts (server or sentinel) answers on port.
func spawn(bin, dir string, port int, logName string, args []string) (*process, error) {
	logPath := filepath.Join(dir, logName)
	logf, err := os.OpenFile(logPath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	// No context: the process outlives this call; stop and kill end it.
	cmd := exec.CommandContext(context.Background(), bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	setProcAttr(cmd)
	p := &process{cmd: cmd, dir: dir, port: port, exited: make(chan struct{})}

	// On Linux the child gets SIGKILL when the thread that started it exits (Pdeathsig).
	// The starting goroutine therefore keeps its thread locked until the child has exited,
	// so that the child dies with the test binary, never before.
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer func() { _ = logf.Close() }()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("starting %s %s: %w", bin, strings.Join(args, " "), err)
	}
	if err := p.waitReady(logPath); err != nil {
		p.kill()
		return nil, err
	}
	return p, nil
}

// waitReady polls PING until the server answers, and checks that the server answering is
// this process (another one could have taken the port in between).
func (p *process) waitReady(logPath string) error {
	c := redis.NewClient(clientOptions(&redis.Options{
		Addr:        p.addr(),
		DialTimeout: time.Second,
		MaxRetries:  -1,
		PoolSize:    1,
	}, 0))
	defer func() { _ = c.Close() }()
	deadline := time.Now().Add(readyTimeout)
	var lastErr error
	for {
		select {
		case <-p.exited:
			log := tailFile(logPath, 20)
			if strings.Contains(log, "Address already in use") {
				return fmt.Errorf("redis-server on port %d: %w", p.port, errPortInUse)
			}
			return fmt.Errorf("redis-server on port %d exited (%w) before answering PING; log:\n%s", p.port, p.waitErr, log)
		default:
		}
		// A plain dial first: go-redis logs every refused connection.
		var err error
		var info string
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", p.addr())
		if err == nil {
			_ = conn.Close()
			info, err = c.Info(ctx, "server").Result()
		}
		cancel()
		if err == nil {
			if pid := infoField(info, "process_id"); pid != strconv.Itoa(p.cmd.Process.Pid) {
				return fmt.Errorf("redis-server on port %d: another server (pid %s) answers: %w", p.port, pid, errPortInUse)
			}
			return nil
		}
		lastErr = err
		if time.Now().After(deadline) {
			return fmt.Errorf("redis-server on port %d did not answer within %v: %w; log:\n%s", p.port, readyTimeout, lastErr, tailFile(logPath, 20))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func infoField(info, name string) string {
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return v
		}
	}
	return ""
}

// tailFile returns the last n lines of the file at path.
func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
