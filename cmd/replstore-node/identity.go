package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/replstore/replstore/wal"
)

// identityFile, in a node's -dir, names the node and the cluster the
// directory belongs to. A node started on another's directory would
// otherwise open its log and hard state as its own (and, say, wait for a
// leader its copied topology names, with no word of why).
const identityFile = "IDENTITY"

// dataSubdirs are what a node keeps in -dir (see run): a directory that
// holds one but no identity file was written by a build before the file.
var dataSubdirs = []string{"log", "hard"}

// dirIdentity is who a data directory belongs to, as the flags say.
type dirIdentity struct {
	NodeID    string `json:"node_id"`
	ClusterID string `json:"cluster_id"`
}

// stamp is what checkDirIdentity found.
type stamp int

const (
	stampMatched stamp = iota // the file names this node and cluster
	stampNew                  // no data and no file: the file is written
	stampAdopted              // data from a build before identity files: the file is written
)

// errForeignDir is wrapped when -dir belongs to another node or cluster.
var errForeignDir = errors.New("data directory belongs to another node or cluster")

func (id dirIdentity) encode() []byte {
	b, _ := json.Marshal(id) // two strings: cannot fail
	return append(b, '\n')
}

// decodeIdentity parses an identity file; both IDs are required.
func decodeIdentity(b []byte) (dirIdentity, error) {
	var id dirIdentity
	if err := json.Unmarshal(b, &id); err != nil {
		return id, err
	}
	if id.NodeID == "" || id.ClusterID == "" {
		return id, errors.New("node_id and cluster_id are both required")
	}
	return id, nil
}

// checkDirIdentity makes sure dir belongs to want before the node opens
// its storage there. A directory with an identity file must name want's
// node and cluster; one without is stamped with want (a new directory,
// or one holding data from a build before identity files, adopted).
func checkDirIdentity(dir string, want dirIdentity) (stamp, error) {
	path := filepath.Join(dir, identityFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		have, err := decodeIdentity(b)
		if err != nil {
			return 0, fmt.Errorf("-dir: %s is malformed (%v): it should be {\"node_id\":...,\"cluster_id\":...}; fix it, or remove it only if the directory is this node's (the next start writes it again)", path, err)
		}
		if have != want {
			return 0, fmt.Errorf("%w: -dir %s is node %s of cluster %s (%s), but this is -id %s -cluster-id %s: start it with -id %s -cluster-id %s, or give -id %s an empty -dir",
				errForeignDir, dir, have.NodeID, have.ClusterID, identityFile, want.NodeID, want.ClusterID, have.NodeID, have.ClusterID, want.NodeID)
		}
		return stampMatched, nil
	case !errors.Is(err, fs.ErrNotExist):
		return 0, fmt.Errorf("-dir: read %s: %w", path, err)
	}
	found := stampNew
	for _, sub := range dataSubdirs {
		if _, err := os.Stat(filepath.Join(dir, sub)); err == nil {
			found = stampAdopted
		}
	}
	if err := writeIdentity(dir, want); err != nil {
		return 0, fmt.Errorf("-dir: write %s: %w", path, err)
	}
	return found, nil
}

// writeIdentity writes dir's identity file atomically (wal's own way of
// storing its hard state), fsyncing the parent too when dir is new, so a
// crash leaves no file or the whole one.
func writeIdentity(dir string, id dirIdentity) error {
	_, statErr := os.Stat(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if errors.Is(statErr, fs.ErrNotExist) {
		if err := wal.SyncDir(filepath.Dir(dir)); err != nil {
			return err
		}
	}
	return wal.WriteFileAtomic(dir, identityFile, id.encode())
}
