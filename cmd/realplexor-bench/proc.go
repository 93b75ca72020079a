package main

// Server-side readings from /proc: resident memory and CPU time of the
// server's processes (nginx has a master and workers: their values are
// summed; PSS splits the pages the workers share, such as Nchan's shared
// memory zone, so it does not count them twice).

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const clockTicks = 100

type procSample struct {
	at     time.Time
	rssKB  int64
	pssKB  int64 // 0 when smaps_rollup is unreadable
	cpuSec float64
	fds    int
	ok     bool
}

// sampleProcs reads all pids; ok is false if any is unreadable.
func sampleProcs(pids []int) procSample {
	s := procSample{at: time.Now(), ok: len(pids) > 0}
	for _, pid := range pids {
		rss, err := readVmRSS(pid)
		if err != nil {
			s.ok = false
			continue
		}
		s.rssKB += rss
		if pss, err := readPss(pid); err == nil {
			s.pssKB += pss
		}
		if c, err := readCPU(pid); err == nil {
			s.cpuSec += c
		} else {
			s.ok = false
		}
		if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
			s.fds += len(ents)
		}
	}
	return s
}

func readVmRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return kbField(b, "VmRSS:")
}

func readPss(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0, err
	}
	return kbField(b, "Pss:")
}

// kbField finds "Name:   1234 kB" in a /proc file.
func kbField(b []byte, name string) (int64, error) {
	for _, line := range bytes.Split(b, []byte("\n")) {
		if bytes.HasPrefix(line, []byte(name)) {
			f := strings.Fields(string(line[len(name):]))
			if len(f) == 0 {
				break
			}
			return strconv.ParseInt(f[0], 10, 64)
		}
	}
	return 0, fmt.Errorf("%s not found", name)
}

// readCPU returns utime+stime of pid in seconds.
func readCPU(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(b)
}

func parseStatCPU(b []byte) (float64, error) {
	// The command name may contain spaces and parentheses: fields are
	// counted from the last ')'. After it: state (field 3) … utime (14),
	// stime (15).
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("malformed stat")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("malformed stat times")
	}
	return float64(ut+st) / clockTicks, nil
}

// selfCPU is the benchmark's own CPU time, reported so that readers see
// how much of the two cores the load generator took.
func selfCPU() float64 {
	c, _ := readCPU(os.Getpid())
	return c
}

func parsePids(s string) ([]int, error) {
	var pids []int
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		pid, err := strconv.Atoi(f)
		if err != nil || pid <= 0 {
			return nil, fmt.Errorf("-pid: %q is not a process id", f)
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d/stat", pid)); err != nil {
			return nil, fmt.Errorf("-pid: process %d not found", pid)
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

// machineBusy is the CPU time all cores spent on anything but idle and
// I/O wait since boot (/proc/stat), in seconds: with the server's and the
// load tool's own times it tells how much else ran during a measurement.
func machineBusy() (float64, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	return parseMachineBusy(b)
}

func parseMachineBusy(b []byte) (float64, bool) {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 6 || f[0] != "cpu" {
		return 0, false
	}
	var busy int64
	for i, s := range f[1:] {
		if i >= 8 { // guest and guest_nice are already in user and nice
			break
		}
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, false
		}
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		busy += v
	}
	return float64(busy) / clockTicks, true
}

// window measures the CPU spent during one measurement by the server,
// the load tool and everything else on the machine.
type window struct {
	server  procSample
	self    float64
	machine float64
	ok      bool
}

func openWindow(pids []int) window {
	m, ok := machineBusy()
	return window{server: sampleProcs(pids), self: selfCPU(), machine: m, ok: ok}
}

// close adds the window's CPU figures to res.
func (w window) close(pids []int, res map[string]any) procSample {
	end := openWindow(pids)
	if !w.ok || !end.ok {
		return end.server
	}
	machine := end.machine - w.machine
	self := end.self - w.self
	server := 0.0
	if len(pids) > 0 && w.server.ok && end.server.ok {
		server = end.server.cpuSec - w.server.cpuSec
	}
	res["window_machine_cpu_s"] = round3(machine)
	res["window_tool_cpu_s"] = round3(self)
	// Everything else: other processes, and kernel time (softirq) that
	// is charged to no process.
	res["window_other_cpu_s"] = round3(machine - self - server)
	return end.server
}
