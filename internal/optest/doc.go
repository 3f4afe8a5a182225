// Package optest makes random durable-execution operations for property
// tests, and compares operations with a readable diff.
package optest
