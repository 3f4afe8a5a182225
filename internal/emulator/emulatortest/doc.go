// Package emulatortest serves the emulator on loopback for a test and builds
// the real SDK client against it.
package emulatortest
