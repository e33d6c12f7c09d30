package main

import (
	"encoding/json"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
)

// dockerfileStage reads deploy/Dockerfile (continuation lines joined):
// the last stage's base and its instructions by name, and every RUN of
// any stage.
func dockerfileStage(t *testing.T) (from string, runs []string, final map[string][]string) {
	t.Helper()
	data, err := os.ReadFile("../../deploy/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	cur := ""
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		if cur == "" && (l == "" || strings.HasPrefix(l, "#")) {
			continue
		}
		if strings.HasSuffix(l, "\\") {
			cur += strings.TrimSuffix(l, "\\") + " "
			continue
		}
		lines = append(lines, cur+l)
		cur = ""
	}
	final = map[string][]string{}
	for _, l := range lines {
		instr, args, _ := strings.Cut(l, " ")
		instr = strings.ToUpper(instr)
		if instr == "FROM" {
			from, final = args, map[string][]string{}
			continue
		}
		final[instr] = append(final[instr], strings.TrimSpace(args))
	}
	for _, l := range lines {
		if strings.HasPrefix(l, "RUN ") {
			runs = append(runs, l)
		}
	}
	return from, runs, final
}

// TestDockerfileMatchesImage checks that deploy/Dockerfile, which cannot
// be built here (no container daemon), describes the image mkimage
// writes: a static binary (CGO_ENABLED=0) on a distroless non-root base,
// the same user, entrypoint, command, working directory, ports and
// labels.
func TestDockerfileMatchesImage(t *testing.T) {
	from, runs, final := dockerfileStage(t)
	if !strings.HasPrefix(from, "gcr.io/distroless/static") || !strings.HasSuffix(from, ":nonroot") {
		t.Errorf("final stage FROM %q, want a distroless static :nonroot base", from)
	}
	static := false
	for _, r := range runs {
		static = static || strings.Contains(r, "CGO_ENABLED=0") && strings.Contains(r, "go build") && strings.Contains(r, "./cmd/dagctl")
	}
	if !static {
		t.Errorf("no RUN CGO_ENABLED=0 go build ./cmd/dagctl in %q", runs)
	}
	one := func(instr string) string {
		t.Helper()
		if len(final[instr]) != 1 {
			t.Fatalf("final stage has %d %s instructions, want 1: %q", len(final[instr]), instr, final[instr])
		}
		return final[instr][0]
	}
	if got := one("USER"); got != user {
		t.Errorf("USER %s, mkimage uses %s", got, user)
	}
	if got := one("WORKDIR"); got != "/data" {
		t.Errorf("WORKDIR %s, mkimage uses /data", got)
	}
	var entry, cmd []string
	if err := json.Unmarshal([]byte(one("ENTRYPOINT")), &entry); err != nil || !slices.Equal(entry, []string{binaryPath}) {
		t.Errorf("ENTRYPOINT %s (%v), mkimage uses [%q]", one("ENTRYPOINT"), err, binaryPath)
	}
	if err := json.Unmarshal([]byte(one("CMD")), &cmd); err != nil || !slices.Equal(cmd, []string{"--help"}) {
		t.Errorf("CMD %s (%v), mkimage uses [\"--help\"]", one("CMD"), err)
	}
	if got := one("COPY"); !strings.HasSuffix(got, " "+binaryPath) {
		t.Errorf("COPY %s does not install the binary at %s", got, binaryPath)
	}
	ports := strings.Fields(one("EXPOSE"))
	slices.Sort(ports)
	if want := []string{"7070", "7071", "7072", "7080", "7081"}; !slices.Equal(ports, want) {
		t.Errorf("EXPOSE %v, mkimage exposes %v", ports, want)
	}
	// LABEL k="v" k="v" ...: values are quoted and hold no quotes.
	got := map[string]string{}
	rest := one("LABEL")
	for rest = strings.TrimSpace(rest); rest != ""; rest = strings.TrimSpace(rest) {
		k, after, ok := strings.Cut(rest, `="`)
		if !ok {
			t.Fatalf("LABEL: cannot read %q", rest)
		}
		v, after2, ok := strings.Cut(after, `"`)
		if !ok {
			t.Fatalf("LABEL: unterminated value in %q", rest)
		}
		got[strings.TrimSpace(k)] = v
		rest = after2
	}
	if want := labels("${VERSION}"); !maps.Equal(got, want) {
		t.Errorf("LABEL %v,\nmkimage labels %v", got, want)
	}
}
