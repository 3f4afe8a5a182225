package pipeline

import "time"

// WithDestinationBackoff sets the wait before each try after a
// destination's transient failure (Config.DestinationRetries).
func WithDestinationBackoff(cfg *Config, f func(n int) time.Duration) { cfg.destinationBackoff = f }
