package main

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// cpuProfileEnv names the file a run writes its CPU profile to (go tool
// pprof reads it). A diagnostic for finding where a backup or restore
// spends its CPU, not a setting: sampling costs a little CPU itself.
const cpuProfileEnv = "QBACKUP_CPU_PROFILE"

// startCPUProfile starts profiling into path (created or truncated) and
// returns the function that ends the profile and closes the file.
func startCPUProfile(path string) (stop func() error, err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot create the profile file: set it to a writable path or unset it: %w", cpuProfileEnv, err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("%s: start the CPU profile: %w", cpuProfileEnv, err)
	}
	return func() error {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			return fmt.Errorf("%s: write the profile %s: %w", cpuProfileEnv, path, err)
		}
		return nil
	}, nil
}
