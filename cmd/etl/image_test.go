package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/durable-etl/durable-etl/internal/emulator"
	"github.com/durable-etl/durable-etl/internal/emulator/emulatortest"
)

// TestRunsInAnEmptyRoot holds what the Dockerfile's distroless image
// assumes: etl built with CGO_ENABLED=0 needs no file of the system (no
// /etc/passwd, no HOME, no shell, no C library), only a writable /tmp. It
// runs the static binary as uid 65532 (distroless's nonroot) chrooted into
// a folder holding nothing but the binary, /tmp and the archive's folder,
// archiving by discovery from the emulator and verifying the archive.
// Chroot needs root: in CI (CI set, as .ci/run sets it) a run without
// root fails; elsewhere (a developer's account) the same binary runs
// without the chroot, as the developer, with nothing in its environment
// but the credentials and a TMPDIR of its own: the static build and the
// empty environment are still held, the missing system files are not.
func TestRunsInAnEmptyRoot(t *testing.T) {
	chroot := os.Geteuid() == 0
	if !chroot && os.Getenv("CI") != "" {
		t.Fatal("chroot needs root, and CI must run this test: run .ci/run as root")
	}
	root := t.TempDir()
	os.Chmod(root, 0o755)
	for dir, mode := range map[string]os.FileMode{"tmp": 0o1777, "archive": 0o755} {
		p := filepath.Join(root, dir)
		if err := os.Mkdir(p, mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
		os.Chown(p, 65532, 65532)
	}
	build := exec.Command("go", "build", "-o", filepath.Join(root, "etl"), ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build with CGO_ENABLED=0: %v\n%s", err, out)
	}
	srv := emulator.New(emulator.WithFunctionList(emulator.DemoFunctions()))
	srv.Add(emulator.Generate(5, 12, emulator.GenerateOptions{MaxOps: 60})...)
	url, _ := emulatortest.Start(t, srv)
	// in is a path of the root as the binary sees it.
	in := func(p string) string {
		if chroot {
			return p
		}
		return filepath.Join(root, p)
	}
	if !chroot {
		t.Log("not root: the binary runs without the chroot and as this user (CI runs the whole test as root)")
	}
	etl := func(args ...string) (string, error) {
		cmd := exec.Command(in("/etl"), args...)
		cmd.Env = []string{"AWS_ACCESS_KEY_ID=emulator", "AWS_SECRET_ACCESS_KEY=emulator", "AWS_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true"}
		cmd.Dir = in("/")
		if chroot {
			cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root, Credential: &syscall.Credential{Uid: 65532, Gid: 65532}}
		} else {
			cmd.Env = append(cmd.Env, "TMPDIR="+in("/tmp"))
		}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := etl("run", "--all-functions", "--endpoint-url", url, "--dest", in("/archive"), "--log-level", "warn"); err != nil || !strings.Contains(out, "12 executions archived") {
		t.Fatalf("etl run in an empty root: %v\n%s", err, out)
	}
	if out, err := etl("verify", "--all-functions", "--endpoint-url", url, "--dest", in("/archive")); err != nil || !strings.Contains(out, "12 of 12 executions complete") {
		t.Fatalf("etl verify in an empty root: %v\n%s", err, out)
	}
	files, _ := filepath.Glob(filepath.Join(root, "archive", "*", "dt=*", "*.parquet"))
	if len(files) == 0 {
		t.Fatal("no Parquet file in the archive")
	}
}
