// Package s3test gives tests a real S3-compatible server: the one at
// ETL_TEST_S3_ENDPOINT (with ETL_TEST_S3_ACCESS_KEY and
// ETL_TEST_S3_SECRET_KEY), or else MinIO started from ETL_TEST_MINIO_BIN,
// ~/.cache/durable-etl/minio-bin/minio or minio on PATH, on a free
// loopback port with throwaway credentials and a KMS key (so SSE works),
// once per test binary. Each test gets its own bucket. A missing server
// fails the test: it is never skipped.
//
// A package using it calls Main from its TestMain, which stops the server.
package s3test
