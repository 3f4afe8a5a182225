package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	neturl "net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/durable-etl/durable-etl/internal/tether"
	"github.com/durable-etl/durable-etl/migrations"
)

var (
	once     sync.Once
	url      string
	startErr error
	stop     func()
)

// Main runs the tests and then stops the cluster, if one was started.
func Main(m interface{ Run() int }) int {
	code := m.Run()
	if stop != nil {
		stop()
	}
	return code
}

// URL is the server's connection URL.
func URL(t testing.TB) string {
	t.Helper()
	once.Do(func() {
		if u := os.Getenv("ETL_TEST_DATABASE_URL"); u != "" {
			url = u
			return
		}
		url, stop, startErr = startCluster()
	})
	if startErr != nil {
		t.Fatalf("pgtest: no PostgreSQL server (set ETL_TEST_DATABASE_URL, or install PostgreSQL so that pg_config --bindir finds initdb): %v", startErr)
	}
	return url
}

// Schema is a new, empty schema name for this test, dropped (with all it
// holds) when the test ends.
func Schema(t testing.TB) (string, string) {
	t.Helper()
	u := URL(t)
	var b [6]byte
	rand.Read(b[:])
	name := "etl_test_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, u)
		if err != nil {
			t.Errorf("pgtest: drop schema: %v", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("pgtest: drop schema: %v", err)
		}
	})
	return u, name
}

// Role creates a login role for the test on u's server, with no privilege
// of its own (the test grants what it needs), dropped when the test ends
// with the privileges it was given; it returns the role's name and u with
// the role's credentials.
func Role(t testing.TB, u string) (name, roleURL string) {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	name = "etl_role_" + hex.EncodeToString(b[:])
	// Random, and long enough to occur nowhere by chance: the messages
	// that name the role's URL show "xxxxx" wherever the password was
	// (a short one, "pw", once hid part of a random database's name).
	var pw [12]byte
	rand.Read(pw[:])
	password := "pw" + hex.EncodeToString(pw[:])
	ctx := context.Background()
	if _, err := Conn(t, u).Exec(ctx, "CREATE ROLE "+name+" LOGIN PASSWORD '"+password+"'"); err != nil {
		t.Fatalf("pgtest: create role: %v", err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, u)
		if err != nil {
			t.Errorf("pgtest: drop role: %v", err)
			return
		}
		defer conn.Close(ctx)
		for _, q := range []string{"DROP OWNED BY " + name, "DROP ROLE " + name} {
			if _, err := conn.Exec(ctx, q); err != nil {
				t.Errorf("pgtest: %s: %v", q, err)
			}
		}
	})
	parsed, err := neturl.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	parsed.User = neturl.UserPassword(name, password)
	return name, parsed.String()
}

// Writer grants role (one of Role's) what an etl run needs of schema s
// on u's server: USAGE on it, SELECT, INSERT and UPDATE on its tables
// (so s must be migrated), TEMP on the database; then sets each of
// settings for the role (ALTER ROLE role SET setting, such as
// "statement_timeout = '1s'"), as a DBA may.
func Writer(t testing.TB, u, role, s string, settings ...string) {
	t.Helper()
	var db string
	if err := Conn(t, u).QueryRow(context.Background(), "SELECT current_database()").Scan(&db); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	sch := pgx.Identifier{s}.Sanitize()
	statements := []string{
		"GRANT USAGE ON SCHEMA " + sch + " TO " + role,
		"GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA " + sch + " TO " + role,
		"GRANT TEMP ON DATABASE " + pgx.Identifier{db}.Sanitize() + " TO " + role,
	}
	for _, set := range settings {
		statements = append(statements, "ALTER ROLE "+role+" SET "+set)
	}
	Exec(t, u, statements...)
}

// Exec runs each statement on u's server, failing the test at the first
// that fails.
func Exec(t testing.TB, u string, statements ...string) {
	t.Helper()
	conn := Conn(t, u)
	for _, q := range statements {
		if _, err := conn.Exec(context.Background(), q); err != nil {
			t.Fatalf("pgtest: %s: %v", q, err)
		}
	}
}

// Migrated is a new schema (Schema) with etl's migrations applied: its
// URL, its name, and a connection to it (Conn).
func Migrated(t testing.TB) (u, name string, conn *pgx.Conn) {
	t.Helper()
	u, name = Schema(t)
	conn = Conn(t, u)
	if err := migrations.Migrate(context.Background(), conn, name); err != nil {
		t.Fatal(err)
	}
	return u, name, conn
}

// Conn is a connection for the test, closed when it ends.
func Conn(t testing.TB, u string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// postgresBindir is where the installed PostgreSQL's programs are:
// pg_config's answer, else Debian's layout (the newest version).
func postgresBindir() (string, error) {
	out, err := exec.Command("pg_config", "--bindir").Output()
	if err == nil {
		return strings.TrimSpace(string(out)), nil
	}
	if found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb"); len(found) > 0 {
		return filepath.Dir(found[len(found)-1]), nil
	}
	return "", fmt.Errorf("pg_config --bindir: %w", err)
}

// startCluster starts a throwaway cluster from the installed binaries (as
// the postgres user when run as root) and returns its URL and what stops
// it and removes its files.
func startCluster() (string, func(), error) {
	bindir, err := postgresBindir()
	if err != nil {
		return "", nil, err
	}
	dir, err := tether.TempDir("etl-pgtest")
	if err != nil {
		return "", nil, err
	}
	asRoot := os.Geteuid() == 0
	if asRoot {
		// PostgreSQL refuses to run as root: the cluster belongs to postgres.
		if err := exec.Command("chown", "postgres:postgres", dir).Run(); err != nil {
			return "", nil, fmt.Errorf("chown %s to postgres: %w", dir, err)
		}
	}
	run := func(name string, args ...string) error {
		cmd := exec.Command(filepath.Join(bindir, name), args...)
		if asRoot {
			cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", filepath.Join(bindir, name)}, args...)...)
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %w\n%s", name, err, out)
		}
		return nil
	}
	data := filepath.Join(dir, "data")
	if err := run("initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	u := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	// The postmaster runs in the foreground, this process's child, tethered
	// to it: a test binary killed outright (its -timeout, kill -9) takes the
	// cluster with it (SIGQUIT: immediate shutdown), where pg_ctl's daemon
	// outlived it.
	cmd := exec.Command(filepath.Join(bindir, "postgres"), "-D", data, "-p", fmt.Sprint(port), "-k", dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "max_connections=200")
	cmd.Dir = dir // the postgres user's, where the test's may not be
	if asRoot {
		cred, err := postgresUser()
		if err != nil {
			os.RemoveAll(dir)
			return "", nil, err
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	logf, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	defer logf.Close() // the child holds its own
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := tether.Start(cmd, syscall.SIGQUIT); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("postgres: %w", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stop := func() {
		cmd.Process.Signal(syscall.SIGQUIT)
		<-exited
		os.RemoveAll(dir)
	}
	if err := awaitReady(u, exited); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "log"))
		stop()
		return "", nil, fmt.Errorf("postgres: %w\n%s", err, log)
	}
	return u, stop, nil
}

// awaitReady waits until the server at u accepts a connection, it exits,
// or 60 s pass.
func awaitReady(u string, exited <-chan struct{}) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, u)
		cancel()
		if err == nil {
			return conn.Close(context.Background())
		}
		select {
		case <-exited:
			return fmt.Errorf("exited before accepting connections")
		case <-time.After(50 * time.Millisecond): // polling a server's start
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not accepting connections after 60 s: %w", err)
		}
	}
}

// postgresUser is the postgres account's credentials: PostgreSQL refuses
// to run as root.
func postgresUser() (*syscall.Credential, error) {
	acct, err := user.Lookup("postgres")
	if err != nil {
		return nil, err
	}
	uid, err1 := strconv.ParseUint(acct.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(acct.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("user postgres: uid %q, gid %q", acct.Uid, acct.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// EndConnections ends every connection of the server whose
// application_name is app, as a restart or a failover does (their
// clients get FATAL 57P01), and waits until they are gone. It returns
// how many it ended.
func EndConnections(t testing.TB, admin *pgx.Conn, app string) int64 {
	t.Helper()
	var n int64
	err := admin.QueryRow(context.Background(), "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 10000)) FROM pg_stat_activity WHERE application_name = $1", app).Scan(&n)
	if err != nil {
		t.Errorf("pgtest: end the connections of %s: %v", app, err)
	}
	return n
}
