package functions_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// functionCPU returns the CPU time the function the emulator of pid
// started has used so far, all its threads together (Linux's
// /proc/<pid>/task/<tid>/schedstat: nanoseconds on a CPU). Unlike the time
// to the first answer it does not grow with the machine's load: it is what
// the start itself costs.
func functionCPU(pid int) (time.Duration, error) {
	children, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	if err != nil {
		return 0, err
	}
	var total time.Duration
	found := false
	for _, c := range children {
		b, err := os.ReadFile(c)
		if err != nil {
			return 0, err
		}
		for _, child := range strings.Fields(string(b)) {
			stats, err := filepath.Glob("/proc/" + child + "/task/*/schedstat")
			if err != nil {
				return 0, err
			}
			for _, s := range stats {
				b, err := os.ReadFile(s)
				if err != nil {
					continue // a thread that has ended
				}
				f := strings.Fields(string(b))
				if len(f) == 0 {
					continue
				}
				ns, err := strconv.ParseInt(f[0], 10, 64)
				if err != nil {
					return 0, fmt.Errorf("%s: %w", s, err)
				}
				total += time.Duration(ns)
				found = true
			}
		}
	}
	if !found {
		return 0, fmt.Errorf("the emulator (pid %d) has no function process", pid)
	}
	return total, nil
}
