package deploycheck

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const modulePath = "github.com/campaignsms/campaignsms"

// repoRoot is the directory of this module's go.mod, found upwards from the
// test's working directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && goModModule(string(b)) == modulePath {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("no go.mod of module %s above the test's directory", modulePath)
		}
		dir = parent
	}
}

func readRootFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func goModModule(gomod string) string {
	for _, line := range strings.Split(gomod, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "module" {
			return f[1]
		}
	}
	return ""
}

// goModGoVersion is the version of go.mod's `go` line, e.g. "1.26.8".
func goModGoVersion(gomod string) string {
	for _, line := range strings.Split(gomod, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "go" {
			return f[1]
		}
	}
	return ""
}

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	line int    // where it starts, 1-based
	cmd  string // upper case: FROM, RUN, COPY, …
	args string
}

// stage is one FROM … up to the next FROM.
type stage struct {
	image, name string // FROM image [AS name]
	instrs      []instruction
}

// escapeDirective changes the line continuation character.
var escapeDirective = regexp.MustCompile(`(?i)^#\s*escape\s*=`)

// parseDockerfile reads the plain Dockerfile syntax this repo uses: comments,
// blank lines, `\` continuations (comment lines inside a continuation are
// dropped, as Docker does), instructions grouped into stages. The escape
// directive and heredocs are not supported: the test fails if it meets one
// rather than misread it.
func parseDockerfile(t *testing.T, text string) []stage {
	t.Helper()
	var (
		stages []stage
		cur    strings.Builder
		start  int
	)
	flush := func() {
		s := strings.TrimSpace(cur.String())
		cur.Reset()
		if s == "" {
			return
		}
		cmd, args, _ := strings.Cut(s, " ")
		in := instruction{line: start, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		if strings.Contains(in.args, "<<") {
			t.Fatalf("Dockerfile:%d: heredocs are not understood by this test", in.line)
		}
		if in.cmd == "FROM" {
			f := strings.Fields(in.args)
			st := stage{}
			for len(f) > 0 && strings.HasPrefix(f[0], "--") { // --platform=…
				f = f[1:]
			}
			if len(f) > 0 {
				st.image = f[0]
			}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.name = f[2]
			}
			stages = append(stages, st)
			return
		}
		if len(stages) == 0 {
			if in.cmd != "ARG" {
				t.Fatalf("Dockerfile:%d: %s before the first FROM", in.line, in.cmd)
			}
			return
		}
		last := &stages[len(stages)-1]
		last.instrs = append(last.instrs, in)
	}
	sc := bufio.NewScanner(strings.NewReader(text))
	n := 0
	continuing := false
	for sc.Scan() {
		n++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") {
			if start == 0 && escapeDirective.MatchString(trimmed) {
				t.Fatalf("Dockerfile:%d: the escape directive is not understood by this test", n)
			}
			continue
		}
		if !continuing {
			if trimmed == "" {
				continue
			}
			start = n
		}
		if body, ok := strings.CutSuffix(strings.TrimRight(line, " \t"), `\`); ok {
			cur.WriteString(body)
			cur.WriteString(" ")
			continuing = true
			continue
		}
		cur.WriteString(line)
		continuing = false
		flush()
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	flush()
	return stages
}

// makeRecipe returns the recipe lines of target in a Makefile: the
// tab-indented lines after "target:", with a leading @ or - dropped.
func makeRecipe(t *testing.T, makefile, target string) []string {
	t.Helper()
	var (
		lines []string
		in    bool
		found bool
	)
	for _, line := range strings.Split(makefile, "\n") {
		if in {
			if strings.HasPrefix(line, "\t") {
				l := strings.TrimSpace(line)
				l = strings.TrimLeft(l, "@-")
				lines = append(lines, strings.TrimSpace(l))
				continue
			}
			in = false
		}
		if name, _, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == target && !strings.HasPrefix(line, "\t") &&
			!strings.HasPrefix(strings.TrimPrefix(line, name+":"), "=") {
			in, found = true, true
		}
	}
	if !found {
		t.Fatalf("Makefile: no target %q", target)
	}
	return lines
}

// goBuildCommands picks the `go build` commands out of shell lines (split at
// &&), with runs of blanks squeezed to one space.
func goBuildCommands(lines []string) []string {
	var out []string
	for _, line := range lines {
		for _, part := range strings.Split(line, "&&") {
			f := strings.Fields(part)
			for i := 0; i+1 < len(f); i++ {
				if f[i] == "go" && f[i+1] == "build" {
					out = append(out, strings.Join(f, " "))
					break
				}
			}
		}
	}
	return out
}
