package pgtest

import (
	"fmt"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/durable-etl/durable-etl/internal/tether"
)

// Pooler starts PgBouncer in transaction mode (pool_mode=transaction:
// each transaction may run in another server session, as behind most
// managed poolers) in front of the server at u, with at most poolSize
// server connections, and returns the URL that connects through it (u's
// user, password, database and query). It stops when the test ends. It
// needs the pgbouncer program (Debian's package: scripts/test-deps.sh
// installs it); a missing one fails the test.
func Pooler(t testing.TB, u string, poolSize int) string {
	t.Helper()
	bin, err := exec.LookPath("pgbouncer")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/pgbouncer"); serr != nil {
			t.Fatalf("pgtest: no pgbouncer (install Debian's pgbouncer, or run .ci/run): %v", err)
		}
		bin = "/usr/sbin/pgbouncer"
	}
	server, err := neturl.Parse(u)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	dir, err := tether.TempDir("etl-pooler")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	if err := writePoolerConfig(dir, server, port, poolSize); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, filepath.Join(dir, "pgbouncer.ini"))
	cmd.Dir = dir
	if os.Geteuid() == 0 { // PgBouncer refuses to run as root
		cred, err := postgresUser()
		if err != nil {
			t.Fatal(err)
		}
		if err := exec.Command("chown", "-R", "postgres:postgres", dir).Run(); err != nil {
			t.Fatalf("pgtest: chown %s to postgres: %v", dir, err)
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	logf, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close() // the child holds its own
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := tether.Start(cmd, syscall.SIGKILL); err != nil {
		t.Fatalf("pgtest: pgbouncer: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGINT)
		<-exited
	})
	pooled := *server
	pooled.Host = fmt.Sprintf("127.0.0.1:%d", port)
	if err := awaitReady(pooled.String(), exited); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "log"))
		t.Fatalf("pgtest: pgbouncer: %v\n%s", err, log)
	}
	return pooled.String()
}

// writePoolerConfig writes PgBouncer's configuration into dir: listening
// on port, in transaction mode, poolSize server connections to server
// with its user (trusted) and password.
func writePoolerConfig(dir string, server *neturl.URL, port, poolSize int) error {
	user := server.User.Username()
	password, _ := server.User.Password()
	target := fmt.Sprintf("host=%s port=%s user=%s", server.Hostname(), server.Port(), user)
	if password != "" {
		target += " password=" + password
	}
	ini := fmt.Sprintf(`[databases]
* = %s
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = trust
auth_file = %s
pool_mode = transaction
default_pool_size = %d
max_client_conn = 500
ignore_startup_parameters = extra_float_digits
`, target, port, filepath.Join(dir, "users.txt"), poolSize)
	files := map[string]string{"pgbouncer.ini": ini, "users.txt": fmt.Sprintf("%q \"\"\n", user)}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}
