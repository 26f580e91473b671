//go:build !linux

package blobfs

import "os"

// openRead opens a blob file for reading (see open_linux.go).
func openRead(name string) (*os.File, error) { return os.Open(name) }
