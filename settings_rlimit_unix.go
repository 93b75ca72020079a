//go:build unix

package caddyrealplexor

import "syscall"

// defaultMaxParked derives max_parked from the open-files limit (0 when
// it cannot be read: no limit).
func defaultMaxParked() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<30 {
		return 0
	}
	n := int(rl.Cur) - parkedReserve
	if n < 100 {
		n = 100
	}
	return n
}
