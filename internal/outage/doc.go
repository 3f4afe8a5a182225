// Package outage gives tests a TCP proxy that can make the service behind
// it unreachable: its connections cut and new ones refused (nothing
// listens), as a service that restarts or a network that goes away does,
// then reachable again on the same address; or its open connections
// silent, as a connection the network lost without a reset is; or every
// connection taken and none answered, as a stopped service's are.
package outage
