package deploycheck

import (
	"slices"
	"strings"
	"testing"
)

// buildStage is the stage named "build" of the Dockerfile.
func buildStage(t *testing.T, stages []stage) stage {
	t.Helper()
	for _, s := range stages {
		if strings.EqualFold(s.name, "build") {
			return s
		}
	}
	t.Fatal("Dockerfile: no stage `FROM … AS build`")
	return stage{}
}

func runLines(s stage) []string {
	var out []string
	for _, in := range s.instrs {
		if in.cmd == "RUN" {
			out = append(out, in.args)
		}
	}
	return out
}

// The image builds the binaries exactly as `make build` does, so that what
// runs in a container is what was tried with the Makefile.
func TestDockerfileBuildsLikeMakefile(t *testing.T) {
	stages := parseDockerfile(t, readRootFile(t, "Dockerfile"))
	build := buildStage(t, stages)

	var makeLines []string
	for _, l := range makeRecipe(t, readRootFile(t, "Makefile"), "build") {
		makeLines = append(makeLines, strings.ReplaceAll(l, "$(GO)", "go"))
	}
	want := goBuildCommands(makeLines)
	if len(want) == 0 {
		t.Fatalf("Makefile: the build target has no `$(GO) build` line: %q", makeLines)
	}
	got := goBuildCommands(runLines(build))
	if !slices.Equal(got, want) {
		t.Errorf("the Dockerfile's build stage and `make build` differ:\nDockerfile: %q\nMakefile:   %q", got, want)
	}
	for _, c := range got {
		for _, p := range []string{"./cmd/api", "./cmd/worker"} {
			if strings.HasSuffix(c, " "+p) && !strings.Contains(c, "CGO_ENABLED=0") {
				t.Errorf("%q: the final stage has no C library to link against; build with CGO_ENABLED=0", c)
			}
		}
	}
}

func TestDockerfileBuildStage(t *testing.T) {
	build := buildStage(t, parseDockerfile(t, readRootFile(t, "Dockerfile")))

	// The Go image of go.mod's minor version: golang:1.26, golang:1.26.8,
	// golang:1.26-alpine, …
	goVersion := goModGoVersion(readRootFile(t, "go.mod"))
	parts := strings.SplitN(goVersion, ".", 3)
	if len(parts) < 2 {
		t.Fatalf("go.mod: cannot read the go line (%q)", goVersion)
	}
	minor := parts[0] + "." + parts[1]
	repo, tag, _ := strings.Cut(build.image, ":")
	if repo != "golang" && !strings.HasSuffix(repo, "/golang") {
		t.Errorf("build stage FROM %s: want the golang image", build.image)
	}
	if rest, ok := strings.CutPrefix(tag, minor); !ok || (rest != "" && rest[0] != '.' && rest[0] != '-') {
		t.Errorf("build stage FROM %s: want Go %s (go.mod says go %s)", build.image, minor, goVersion)
	}

	// go.mod and go.sum are copied and the modules downloaded before the
	// rest of the source, so that a code change reuses the module layer.
	download, copyAll := -1, -1
	for i, in := range build.instrs {
		switch {
		case in.cmd == "RUN" && strings.Join(strings.Fields(in.args), " ") == "go mod download":
			download = i
		case in.cmd == "COPY" && strings.Join(strings.Fields(in.args), " ") == ". .":
			copyAll = i
		}
	}
	if download < 0 || copyAll < 0 || download > copyAll {
		t.Errorf("build stage: want `RUN go mod download` before `COPY . .` (at %d and %d)", download, copyAll)
	}
}

func TestDockerfileFinalStage(t *testing.T) {
	stages := parseDockerfile(t, readRootFile(t, "Dockerfile"))
	if len(stages) < 2 {
		t.Fatalf("Dockerfile: %d stage(s), want a build stage and a final one", len(stages))
	}
	final := stages[len(stages)-1]
	if strings.EqualFold(final.name, "build") {
		t.Fatal("Dockerfile: the last stage is the build stage")
	}

	var user string
	var exposed []string
	copied := map[string]bool{}
	for _, in := range final.instrs {
		switch in.cmd {
		case "USER":
			user = in.args
		case "EXPOSE":
			exposed = append(exposed, strings.Fields(in.args)...)
		case "COPY":
			f := strings.Fields(in.args)
			if len(f) > 2 && strings.HasPrefix(f[0], "--from=") {
				for _, src := range f[1 : len(f)-1] {
					copied[src[strings.LastIndex(src, "/")+1:]] = true
				}
			}
		case "ENV", "ARG":
			for _, word := range []string{"TOKEN", "PASSWORD", "SECRET", "REDIS_URL"} {
				if strings.Contains(strings.ToUpper(in.args), word) {
					t.Errorf("Dockerfile:%d: %s %s: configuration comes from the environment at run time, not from the image", in.line, in.cmd, in.args)
				}
			}
		}
	}
	name, _, _ := strings.Cut(user, ":")
	if name == "" || name == "root" || name == "0" {
		t.Errorf("final stage: USER %q, want a non-root user", user)
	}
	for _, p := range []string{"8080", "9091"} {
		if !slices.Contains(exposed, p) && !slices.Contains(exposed, p+"/tcp") {
			t.Errorf("final stage: EXPOSE %v lacks %s", exposed, p)
		}
	}
	for _, bin := range []string{"api", "worker"} {
		if !copied[bin] {
			t.Errorf("final stage: no COPY --from of the %s binary", bin)
		}
	}
}

func TestParseDockerfile(t *testing.T) {
	stages := parseDockerfile(t, `ARG X=1
FROM --platform=linux/amd64 golang:1.26 AS build
# a comment
RUN a \
  # dropped inside a continuation
  && go  build -o bin/x ./cmd/x

FROM alpine
USER 1:1
`)
	if len(stages) != 2 || stages[0].image != "golang:1.26" || stages[0].name != "build" || stages[1].image != "alpine" {
		t.Fatalf("stages: %+v", stages)
	}
	got := goBuildCommands(runLines(stages[0]))
	if want := []string{"go build -o bin/x ./cmd/x"}; !slices.Equal(got, want) {
		t.Errorf("go build commands: %q, want %q", got, want)
	}
	if in := stages[0].instrs[0]; in.line != 4 {
		t.Errorf("RUN starts at line %d, want 4", in.line)
	}
}

func TestMakeRecipe(t *testing.T) {
	mk := "GO ?= go\nbuild:\n\t$(GO) build -o a ./a\n\t@$(GO) build -o b ./b\n\ntest: build\n\t$(GO) test ./...\n"
	got := makeRecipe(t, mk, "build")
	if want := []string{"$(GO) build -o a ./a", "$(GO) build -o b ./b"}; !slices.Equal(got, want) {
		t.Errorf("recipe: %q, want %q", got, want)
	}
}
