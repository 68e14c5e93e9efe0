package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCheckDirIdentity(t *testing.T) {
	me := dirIdentity{NodeID: "n1", ClusterID: "demo"}
	stampWith := func(id dirIdentity) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			require.NoError(t, os.MkdirAll(dir, 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(dir, identityFile), id.encode(), 0o644))
		}
	}
	writeFile := func(body string) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			require.NoError(t, os.MkdirAll(dir, 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(dir, identityFile), []byte(body), 0o644))
		}
	}
	for _, tc := range []struct {
		name    string
		setup   func(t *testing.T, dir string) // nil: the directory does not exist
		want    stamp
		wantErr error    // errors.Is target; nil with wantMsg nil = no error
		wantMsg []string // the error's text holds each
	}{
		{name: "fresh directory stamped", want: stampNew},
		{name: "empty directory stamped", setup: func(t *testing.T, dir string) { require.NoError(t, os.MkdirAll(dir, 0o755)) }, want: stampNew},
		{name: "same identities", setup: stampWith(me), want: stampMatched},
		{name: "other node ID refused", setup: stampWith(dirIdentity{NodeID: "n9", ClusterID: "demo"}),
			wantErr: errForeignDir, wantMsg: []string{"node n9 of cluster demo", "-id n1 -cluster-id demo", "empty -dir"}},
		{name: "other cluster ID refused", setup: stampWith(dirIdentity{NodeID: "n1", ClusterID: "other"}),
			wantErr: errForeignDir, wantMsg: []string{"node n1 of cluster other", "-id n1 -cluster-id demo", "empty -dir"}},
		{name: "old data without a file adopted", setup: func(t *testing.T, dir string) {
			require.NoError(t, os.MkdirAll(filepath.Join(dir, "log"), 0o755))
			require.NoError(t, os.MkdirAll(filepath.Join(dir, "hard"), 0o755))
		}, want: stampAdopted},
		{name: "malformed file refused", setup: writeFile("node n1\n"), wantMsg: []string{identityFile, "malformed"}},
		{name: "file without a cluster ID refused", setup: writeFile(`{"node_id":"n1"}`), wantMsg: []string{identityFile, "malformed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			if tc.setup != nil {
				tc.setup(t, dir)
			}
			before, _ := os.ReadFile(filepath.Join(dir, identityFile))
			got, err := checkDirIdentity(dir, me)
			if tc.wantErr != nil || tc.wantMsg != nil {
				require.Error(t, err)
				if tc.wantErr != nil {
					require.True(t, errors.Is(err, tc.wantErr), "errors.Is(%v, %v)", err, tc.wantErr)
				}
				for _, s := range tc.wantMsg {
					require.Contains(t, err.Error(), s)
				}
				require.NotContains(t, err.Error(), "\n", "one line")
				after, _ := os.ReadFile(filepath.Join(dir, identityFile))
				require.Equal(t, before, after, "a refused directory's file is left as it was")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
			b, err := os.ReadFile(filepath.Join(dir, identityFile))
			require.NoError(t, err, "the directory is stamped")
			id, err := decodeIdentity(b)
			require.NoError(t, err)
			require.Equal(t, me, id)
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			for _, e := range entries {
				require.False(t, strings.HasSuffix(e.Name(), ".tmp"), "temporary file %s left behind", e.Name())
			}
			// A second start finds its own identity.
			again, err := checkDirIdentity(dir, me)
			require.NoError(t, err)
			require.Equal(t, stampMatched, again)
		})
	}
}
