// Package pgtest gives tests a real PostgreSQL server: the one at
// ETL_TEST_DATABASE_URL, or else a throwaway cluster started from the
// installed binaries (pg_config --bindir) on a free loopback port, once per
// test binary, as the postgres user when running as root. Each test gets its
// own schema, dropped when it ends. A missing server fails the test: it is
// never skipped.
//
// A package using it calls Main from its TestMain, which stops the cluster.
package pgtest
