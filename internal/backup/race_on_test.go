//go:build race

package backup

// raceEnabled: the race detector slows streaming and inflates memory.
const raceEnabled = true
