package load_test

import (
	"strings"
	"testing"

	"github.com/durable-etl/durable-etl/load"
)

// TestParseDest: each DEST form of the contract, and what is refused. A
// libpq key=value connection string was taken for a directory: the run
// archived into a folder named after it and printed it, password and all.
func TestParseDest(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want load.Dest
	}{
		{"./archive", load.Dest{Kind: load.DestLocal, Path: "archive"}},
		{"/data/user=alice", load.Dest{Kind: load.DestLocal, Path: "/data/user=alice"}},
		{"user=alice", load.Dest{Kind: load.DestLocal, Path: "user=alice"}}, // one word: a Hive-style folder
		{"dt=2026-01-01 copy", load.Dest{Kind: load.DestLocal, Path: "dt=2026-01-01 copy"}},
		{"file:///abs/path/", load.Dest{Kind: load.DestLocal, Path: "/abs/path"}},
		{"s3://bucket/pre/fix/", load.Dest{Kind: load.DestS3, Bucket: "bucket", Prefix: "pre/fix"}},
		{"s3://Legacy_Bucket.2009/x", load.Dest{Kind: load.DestS3, Bucket: "Legacy_Bucket.2009", Prefix: "x"}}, // us-east-1's old rules
		{"postgres://u@h/db", load.Dest{Kind: load.DestPostgres, URL: "postgres://u@h/db"}},
		{"PostgreSQL://u@h/db", load.Dest{Kind: load.DestPostgres, URL: "PostgreSQL://u@h/db"}},
	} {
		got, err := load.ParseDest(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseDest(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"", "empty --dest"},
		{"s3://", "no bucket"},
		{"s3://dm/archive", `"dm" is not a bucket name S3 allows`},
		{"s3://my bucket/archive", `"my bucket" is not a bucket name S3 allows`},
		{"s3://bucket:9000/archive", `"bucket:9000" is not a bucket name S3 allows`},
		{"file://host/x", "want file:///absolute/path"},
		{"ftp://u:hunter2@h/x", "unknown scheme"},
		{"host=db.internal port=5432 dbname=archive user=etl password=hunter2", `"host=db.internal port=5432 dbname=archive user=etl password=xxxxx" is a PostgreSQL key=value connection string: give it as a URL`},
		{"password=hunter2", "password=xxxxx"},
		{"host = /var/run/postgresql password='hunter2 with \\'spaces' sslmode=disable", `"host=/var/run/postgresql password=xxxxx sslmode=disable" is a PostgreSQL`},
	} {
		_, err := load.ParseDest(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("ParseDest(%q): error %v, want one saying %q and no password", tc.in, err, tc.want)
		}
	}
}
