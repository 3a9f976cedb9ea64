// Command image builds the OCI image of `latch server` without a Docker
// engine and without downloading a base image: the static latch binary and
// a CA bundle on an empty base, run as an unprivileged user, with the store
// on a volume. `make image` runs it; docs/running.md says how to use the
// result.
package main

import (
	"archive/tar"
	"bytes"
	"debug/buildinfo"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/latchhq/latch/pkg/version"
)

// The image's fixed shape.
const (
	binaryPath = "/usr/local/bin/latch"
	caPath     = "/etc/ssl/certs/ca-certificates.crt"
	dataDir    = "/data"
	flowsDir   = "/flows"
	uid        = 65532 // "nonroot", as distroless images use
	port       = "8080/tcp"
)

// Options say what goes into the image.
type Options struct {
	Binary   []byte // the static latch binary for Arch
	CABundle []byte // PEM certificates for outgoing HTTPS (Slack, webhooks, audit destinations)
	Arch     string // amd64, arm64
	Version  string // for the labels: `latch version`'s string, read from the binary
	Revision string // the VCS commit, if the binary knows it
	Created  time.Time
}

// Build returns the image.
func Build(o Options) (v1.Image, error) {
	if len(o.Binary) == 0 {
		return nil, errors.New("no latch binary")
	}
	if len(o.CABundle) == 0 {
		return nil, errors.New("no CA bundle: latch server would not trust any HTTPS endpoint")
	}
	layerTar, err := rootfs(o)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.AppendLayers(img, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", o.Arch
	cf.Created = v1.Time{Time: o.Created}
	cf.Config = v1.Config{
		User:         fmt.Sprintf("%d:%d", uid, uid),
		Entrypoint:   []string{binaryPath, "server"},
		Cmd:          []string{"--addr", "0.0.0.0:8080", "--data", dataDir, "--flows", flowsDir, "--log-format", "json"},
		Env:          []string{"PATH=/usr/local/bin", "SSL_CERT_FILE=" + caPath},
		WorkingDir:   dataDir,
		Volumes:      map[string]struct{}{dataDir: {}},
		ExposedPorts: map[string]struct{}{port: {}},
		StopSignal:   "SIGTERM",
		Labels: map[string]string{
			"org.opencontainers.image.title":       "latch",
			"org.opencontainers.image.description": "Latch: just-in-time access, approved in Slack, taken away on time",
			"org.opencontainers.image.source":      "https://github.com/latchhq/latch",
			"org.opencontainers.image.licenses":    "Apache-2.0",
			"org.opencontainers.image.version":     o.Version,
			"org.opencontainers.image.revision":    o.Revision,
		},
	}
	return mutate.ConfigFile(img, cf)
}

// rootfs is the one layer: the binary, the CA bundle, and the data and
// flows directories, owned by root but for /data, with fixed times so the
// same inputs give the same layer.
func rootfs(o Options) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dir := func(path string, mode int64, owner int) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: path + "/", Mode: mode, Uid: owner, Gid: owner, ModTime: o.Created})
	}
	file := func(path string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: path, Mode: mode, Size: int64(len(data)), ModTime: o.Created}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	for _, step := range []func() error{
		func() error { return dir("etc", 0o755, 0) },
		func() error { return dir("etc/ssl", 0o755, 0) },
		func() error { return dir("etc/ssl/certs", 0o755, 0) },
		func() error { return file(caPath[1:], 0o644, o.CABundle) },
		func() error {
			return file("etc/passwd", 0o644, fmt.Appendf(nil, "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:%s:/sbin/nologin\n", uid, uid, dataDir))
		},
		func() error { return file("etc/group", 0o644, fmt.Appendf(nil, "root:x:0:\nnonroot:x:%d:\n", uid)) },
		func() error { return dir("usr", 0o755, 0) },
		func() error { return dir("usr/local", 0o755, 0) },
		func() error { return dir("usr/local/bin", 0o755, 0) },
		func() error { return file(binaryPath[1:], 0o755, o.Binary) },
		func() error { return dir(dataDir[1:], 0o700, uid) },
		func() error { return dir(flowsDir[1:], 0o755, 0) },
		func() error { return dir("tmp", 0o1777, 0) },
	} {
		if err := step(); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func main() {
	var (
		binary, ca, out, tag, arch string
		epoch                      int64
	)
	flag.StringVar(&binary, "binary", "bin/image/latch", "the static latch binary (CGO_ENABLED=0)")
	flag.StringVar(&ca, "ca-bundle", caPath, "the PEM CA bundle to put in the image")
	flag.StringVar(&out, "out", "bin/latch-image.tar", "where to write the image tarball (docker load / podman load)")
	flag.StringVar(&tag, "tag", "latch:dev", "the image's name in the tarball")
	flag.StringVar(&arch, "arch", "amd64", "the binary's architecture")
	flag.Int64Var(&epoch, "source-date-epoch", 0, "the image's creation time, in unix seconds (SOURCE_DATE_EPOCH)")
	flag.Parse()
	if err := run(binary, ca, out, tag, Options{Arch: arch, Created: time.Unix(epoch, 0).UTC()}); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(binary, ca, out, tag string, o Options) error {
	var err error
	if o.Binary, err = os.ReadFile(binary); err != nil {
		return err
	}
	bi, err := buildinfo.ReadFile(binary)
	if err != nil {
		return fmt.Errorf("%s: not a Go binary with build information: %w", binary, err)
	}
	in := version.FromBuildInfo(bi)
	o.Version, o.Revision = in.Version, in.Revision
	if o.CABundle, err = os.ReadFile(ca); err != nil {
		return fmt.Errorf("%w (install Debian's ca-certificates, or pass --ca-bundle)", err)
	}
	img, err := Build(o)
	if err != nil {
		return err
	}
	ref, err := name.NewTag(tag)
	if err != nil {
		return err
	}
	if err := tarball.WriteToFile(out, ref, img); err != nil {
		return err
	}
	d, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Printf("wrote %s: %s %s\n", out, tag, d)
	return nil
}
