// Package cli holds the gauntlet commands. Each command has an Options
// struct and a run function that takes it, so commands are testable without
// a process; Main wires them to cobra and returns the exit code.
package cli
