//go:build !unix

package caddyrealplexor

// defaultMaxParked is 0 (no limit) where there is no open-files limit to
// read; set max_parked explicitly there.
func defaultMaxParked() int { return 0 }
