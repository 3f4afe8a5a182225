package pipeline

import "time"

// WithDestinationBackoff sets the wait before each try after a
// destination's transient failure (Config.DestinationRetries).
func WithDestinationBackoff(cfg *Config, f func(n int) time.Duration) { cfg.destinationBackoff = f }

// WithRecordTimeout sets how long each try of writing the run's record
// may take.
func WithRecordTimeout(cfg *Config, d time.Duration) { cfg.recordTimeout = d }
