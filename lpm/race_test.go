//go:build race

package lpm

const raceEnabled = true
