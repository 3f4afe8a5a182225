package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// TestDeployExamples: the commands the examples in docs/deploy/ give the
// image (whose entrypoint is etl and which has no shell) are etl's
// arguments: a command it has, then flags that command takes. A flag
// renamed, or a shell command line, fails here rather than in a user's
// first night.
func TestDeployExamples(t *testing.T) {
	dir := filepath.Join("..", "..", "docs", "deploy")
	var batch struct {
		JobDefinition struct {
			ContainerProperties struct {
				Command []string `json:"command"`
			} `json:"containerProperties"`
		} `json:"jobDefinition"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "aws-batch.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &batch); err != nil {
		t.Fatalf("aws-batch.json: %v", err)
	}
	examples := map[string][]string{"aws-batch.json": batch.JobDefinition.ContainerProperties.Command}
	// kubernetes.yaml: each container's args, one "- ARG" line each.
	y, err := os.ReadFile(filepath.Join(dir, "kubernetes.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	item := regexp.MustCompile(`^\s+- ([^#]*?)\s*(#.*)?$`)
	n, collecting := 0, false
	for _, line := range strings.Split(string(y), "\n") {
		name := fmt.Sprintf("kubernetes.yaml, args %d", n)
		switch m := item.FindStringSubmatch(line); {
		case strings.TrimSpace(line) == "args:":
			n++
			collecting = true
		case collecting && m != nil:
			examples[name] = append(examples[name], m[1])
		default:
			collecting = false
		}
	}
	// Every container's args read (one in another form would go
	// unchecked).
	if n == 0 || n != strings.Count(string(y), "args:") {
		t.Fatalf("kubernetes.yaml: %d args blocks read of %d", n, strings.Count(string(y), "args:"))
	}
	app := newApp(io.Discard, io.Discard)
	for name, argv := range examples {
		if len(argv) == 0 {
			t.Errorf("%s: no command", name)
			continue
		}
		cmd := app.Command(argv[0])
		if cmd == nil {
			t.Errorf("%s: %q is not an etl command (the image's entrypoint is etl; it has no shell)", name, argv[0])
			continue
		}
		for _, a := range argv[1:] {
			if !strings.HasPrefix(a, "--") {
				continue // a flag's value
			}
			flag, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
			if !slices.ContainsFunc(cmd.Flags, func(f cli.Flag) bool { return slices.Contains(f.Names(), flag) }) {
				t.Errorf("%s: etl %s has no flag --%s", name, argv[0], flag)
			}
		}
	}
}
