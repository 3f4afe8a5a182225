package s3test

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestWaitReadyWaitsForTheObjectLayer: MinIO's health endpoint answers 200
// with X-Minio-Server-Status: offline while its object layer is not up;
// the harness waits past those answers, and gives up on a server that
// stays so.
func TestWaitReadyWaitsForTheObjectLayer(t *testing.T) {
	var asked atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/minio/health/ready" {
			http.NotFound(w, r)
			return
		}
		if asked.Add(1) <= 3 {
			w.Header().Set("X-Minio-Server-Status", "offline")
		}
	}))
	defer srv.Close()
	if err := waitReady(srv.URL, time.Minute); err != nil || asked.Load() != 4 {
		t.Errorf("ready after %d answers (want 4: three offline, then up): %v", asked.Load(), err)
	}

	offline := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Minio-Server-Status", "offline")
	}))
	defer offline.Close()
	if err := waitReady(offline.URL, 300*time.Millisecond); err == nil {
		t.Error("a server that stays offline was taken as ready")
	}
}
