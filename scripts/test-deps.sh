#!/usr/bin/env bash
# Installs what `make test` needs and a fresh machine lacks, and does nothing
# for what is already there (run by `make test` before the tests):
#   - the PostgreSQL server binaries, unless ETL_TEST_DATABASE_URL names a
#     server: installed with apt-get when running as root, otherwise one line
#     saying what to install;
#   - MinIO at a pinned version, unless ETL_TEST_S3_ENDPOINT names a server:
#     built from the Go module proxy into the cache (a few minutes on two
#     cores, once per machine and version);
#   - PgBouncer, for the test of Postgres through a pooler in transaction
#     mode (with apt-get, as the server binaries);
#   - GNU time (/usr/bin/time), for the memory benchmarks.
# It prints the MinIO binary's path on its last line of standard output.
set -euo pipefail

MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
CACHE="${ETL_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/durable-etl}"
MINIO_DIR="$CACHE/minio-bin"

say() { echo "test-deps: $*" >&2; }

# apt_install PACKAGE WHY: installs a Debian package as root; otherwise
# says what to run and fails.
apt_install() {
	if [ "$(id -u)" != 0 ]; then
		say "make test needs $2: run 'sudo apt-get install $1'"
		exit 1
	fi
	say "installing $2 (apt-get install $1)"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2
	apt-get install -y -qq "$1" >/dev/null
}

if [ -z "${ETL_TEST_DATABASE_URL:-}" ]; then
	have_pg() { command -v pg_config >/dev/null && [ -x "$(pg_config --bindir)/initdb" ]; }
	if ! have_pg; then
		apt_install postgresql "the PostgreSQL server binaries (or ETL_TEST_DATABASE_URL naming a server)"
		have_pg || { say "apt-get installed postgresql, yet pg_config --bindir has no initdb"; exit 1; }
	fi
	if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
		say "running as root, the test cluster runs as the postgres user, and there is none: run 'apt-get install postgresql', which creates it"
		exit 1
	fi
fi

# PgBouncer stands in front of whichever server the tests use
# (pgtest.Pooler).
if ! command -v pgbouncer >/dev/null && [ ! -x /usr/sbin/pgbouncer ]; then
	apt_install pgbouncer "PgBouncer"
fi

# GNU time measures a child's own peak RSS for the memory benchmarks (and
# internal/peakrss's test): see internal/peakrss.
if [ ! -x /usr/bin/time ]; then
	apt_install time "GNU time"
fi

if [ -z "${ETL_TEST_S3_ENDPOINT:-}" ]; then
	if [ ! -x "$MINIO_DIR/minio" ] || [ "$(cat "$MINIO_DIR/version" 2>/dev/null)" != "$MINIO_VERSION" ]; then
		say "building MinIO $MINIO_VERSION into $MINIO_DIR (once per machine; a few minutes)"
		mkdir -p "$MINIO_DIR"
		rm -f "$MINIO_DIR/version"
		GOBIN="$MINIO_DIR" GOFLAGS= go install "github.com/minio/minio@$MINIO_VERSION" >&2
		echo "$MINIO_VERSION" >"$MINIO_DIR/version"
	fi
	echo "$MINIO_DIR/minio"
fi
