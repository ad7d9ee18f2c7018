package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// maxSlots bounds how many runners of the same pipelines one host may run
// without --instance.
const maxSlots = 64

// defaultInstance names this process when --instance is not given: the
// host name, or host-2, host-3, ... when other runners of the same
// pipelines on this host hold the lower names. Stages derive their static
// group member ids and transactional ids from the name; two live processes
// with one name would fence each other, while a process restarted after a
// crash should get its old name back, and does: the lowest free slot. A
// slot is an flock on a file in the temp folder, released by the kernel
// when the process dies, however it dies. The returned release frees it.
func defaultInstance(pipelines []string) (name string, release func(), err error) {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "runner"
	}
	sorted := slices.Clone(pipelines)
	slices.Sort(sorted)
	sum := sha256.Sum256([]byte(strings.Join(sorted, "\n")))
	dir := filepath.Join(os.TempDir(), "conveyor-instances")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return "", nil, fmt.Errorf("instance slots: %w", err)
	}
	for slot := 1; slot <= maxSlots; slot++ {
		name := host
		if slot > 1 {
			name = fmt.Sprintf("%s-%d", host, slot)
		}
		path := filepath.Join(dir, fmt.Sprintf("%s.%s.lock", hex.EncodeToString(sum[:8]), name))
		f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
		if err != nil {
			return "", nil, fmt.Errorf("instance slots: %w", err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			continue // another live runner holds this name
		}
		return name, func() { f.Close() }, nil
	}
	return "", nil, fmt.Errorf("instance slots: %d runners of these pipelines already run on this host; give each its own --instance", maxSlots)
}
