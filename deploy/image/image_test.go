package main

import (
	"archive/tar"
	"errors"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The image written to a tarball, read back as `docker load` would: its
// config runs `latch server` as a non-root user with the store on a volume,
// and its one layer holds the binary, the CA bundle and the directories.
func TestImage(t *testing.T) {
	binary := []byte("\x7fELF a static latch binary")
	created := time.Unix(1764633600, 0).UTC()
	img, err := Build(Options{Binary: binary, CABundle: []byte("-----BEGIN CERTIFICATE-----\n"), Arch: "arm64",
		Version: "v0.3.0", Revision: "4f5c2f8", Created: created})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "latch-image.tar")
	tag, _ := name.NewTag("latch:test")
	if err := tarball.WriteToFile(path, tag, img); err != nil {
		t.Fatal(err)
	}
	loaded, err := tarball.ImageFromPath(path, &tag)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := loaded.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if c.User == "" || c.User == "0" || strings.HasPrefix(c.User, "0:") || strings.HasPrefix(c.User, "root") {
		t.Errorf("user %q, want a non-root user", c.User)
	}
	if !slices.Equal(c.Entrypoint, []string{"/usr/local/bin/latch", "server"}) {
		t.Errorf("entrypoint %q, want latch server", c.Entrypoint)
	}
	if _, ok := c.Volumes["/data"]; !ok || !slices.Contains(c.Cmd, "/data") || !slices.Contains(c.Cmd, "0.0.0.0:8080") {
		t.Errorf("volumes %v, cmd %q: want /data a volume, the store in it, listening on every interface", c.Volumes, c.Cmd)
	}
	if _, ok := c.ExposedPorts["8080/tcp"]; !ok {
		t.Errorf("exposed ports %v, want 8080/tcp", c.ExposedPorts)
	}
	if cf.OS != "linux" || cf.Architecture != "arm64" || !cf.Created.Time.Equal(created) {
		t.Errorf("platform %s/%s created %s", cf.OS, cf.Architecture, cf.Created)
	}
	if c.Labels["org.opencontainers.image.licenses"] != "Apache-2.0" || c.Labels["org.opencontainers.image.version"] != "v0.3.0" {
		t.Errorf("labels %v", c.Labels)
	}
	if mt, err := img.MediaType(); err != nil || mt != types.OCIManifestSchema1 {
		t.Errorf("manifest media type %s, %v; want OCI", mt, err)
	}

	layers, err := loaded.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %d, %v; want 1 on an empty base", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	files := map[string]*tar.Header{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files[strings.TrimSuffix(h.Name, "/")] = h
		if h.Name == "usr/local/bin/latch" {
			got, _ := io.ReadAll(tr)
			if string(got) != string(binary) {
				t.Errorf("the binary in the image differs from the one built")
			}
		}
	}
	for path, want := range map[string]struct {
		mode int64
		uid  int
	}{
		"usr/local/bin/latch":               {0o755, 0},
		"etc/ssl/certs/ca-certificates.crt": {0o644, 0},
		"data":                              {0o700, 65532},
		"flows":                             {0o755, 0},
		"etc/passwd":                        {0o644, 0},
	} {
		h := files[path]
		if h == nil {
			t.Errorf("the image has no /%s", path)
			continue
		}
		if h.Mode != want.mode || h.Uid != want.uid || !h.ModTime.Equal(created) {
			t.Errorf("/%s: mode %o uid %d time %s; want %o, %d, %s", path, h.Mode, h.Uid, h.ModTime, want.mode, want.uid, created)
		}
	}

	// The same inputs give the same image.
	again, err := Build(Options{Binary: binary, CABundle: []byte("-----BEGIN CERTIFICATE-----\n"), Arch: "arm64",
		Version: "v0.3.0", Revision: "4f5c2f8", Created: created})
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := img.Digest()
	d2, _ := again.Digest()
	if d1 != d2 {
		t.Errorf("two builds of the same inputs: %s and %s", d1, d2)
	}
	if _, err := Build(Options{Binary: binary, Arch: "amd64"}); err == nil {
		t.Errorf("an image without a CA bundle was built")
	}
}
