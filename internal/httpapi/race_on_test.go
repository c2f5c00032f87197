//go:build race

package httpapi_test

// raceEnabled: the race detector slows CPU-bound code several times over,
// so timing assertions do not hold under it.
const raceEnabled = true
