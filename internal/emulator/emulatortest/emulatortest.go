package emulatortest

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/durable-etl/durable-etl/extract"
	"github.com/durable-etl/durable-etl/internal/emulator"
)

// Env sets the environment an SDK client needs to talk to the emulator:
// dummy credentials (the emulator checks none unless asked:
// emulator.WithCredentials), a region, and no IMDS.
func Env(t testing.TB) {
	t.Setenv("AWS_ACCESS_KEY_ID", "emulator")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "emulator")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
}

// Start serves srv on a loopback port until the test ends and returns its
// URL and a client built by extract.NewClient (so with the production
// retryer and timeouts) pointed at it.
func Start(t testing.TB, srv *emulator.Server, opts ...extract.ClientOption) (string, *lambda.Client) {
	t.Helper()
	Env(t)
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return hs.URL, Client(t, hs.URL, opts...)
}

// Client is another client (extract.NewClient with opts) of an emulator
// that Start serves at url: a benchmark's baseline, say, with the SDK's own
// decoder (extract.WithSDKDecoder).
func Client(t testing.TB, url string, opts ...extract.ClientOption) *lambda.Client {
	t.Helper()
	client, err := extract.NewClient(context.Background(), append([]extract.ClientOption{extract.WithEndpointURL(url)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return client
}
