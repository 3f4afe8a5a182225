// Package tether starts the servers the test harnesses run (MinIO,
// PostgreSQL) so that they die with the test process that started them,
// however it dies: a test binary killed by its -timeout, or with kill -9,
// runs no cleanup, and a server started the usual way outlives it.
package tether
