package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
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

// TestBatchJobFitsFargate: the AWS Batch example runs on Fargate, which
// takes only some pairs of vCPUs and memory (AWS Batch API reference,
// ResourceRequirement); another pair gets no job run.
func TestBatchJobFitsFargate(t *testing.T) {
	var job struct {
		JobDefinition struct {
			PlatformCapabilities []string `json:"platformCapabilities"`
			ContainerProperties  struct {
				ResourceRequirements []struct{ Type, Value string } `json:"resourceRequirements"`
			} `json:"containerProperties"`
		} `json:"jobDefinition"`
	}
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "deploy", "aws-batch.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &job); err != nil {
		t.Fatalf("aws-batch.json: %v", err)
	}
	if !slices.Contains(job.JobDefinition.PlatformCapabilities, "FARGATE") {
		t.Fatal("aws-batch.json is no longer a Fargate job definition: check its resources against its platform instead")
	}
	// Fargate's memory values (MiB) and the vCPUs each allows.
	fargate := map[int][]string{512: {"0.25"}, 1024: {"0.25", "0.5"}, 2048: {"0.25", "0.5", "1"}, 3072: {"0.5", "1"}, 4096: {"0.5", "1", "2"}, 8192: {"1", "2", "4"}}
	for m := 5120; m <= 7168; m += 1024 {
		fargate[m] = []string{"1", "2"}
	}
	for m := 9216; m <= 16384; m += 1024 {
		fargate[m] = []string{"2", "4"}
	}
	for m := 17408; m <= 30720; m += 1024 {
		fargate[m] = []string{"4"}
	}
	res := map[string]string{}
	for _, r := range job.JobDefinition.ContainerProperties.ResourceRequirements {
		res[r.Type] = r.Value
	}
	mem, err := strconv.Atoi(res["MEMORY"])
	if err != nil {
		t.Fatalf("MEMORY %q: %v", res["MEMORY"], err)
	}
	if vcpus, ok := fargate[mem]; !ok || !slices.Contains(vcpus, res["VCPU"]) {
		t.Errorf("VCPU %q with MEMORY %d MiB: not a pair Fargate runs (that memory takes VCPU %v)", res["VCPU"], mem, vcpus)
	}
}
