package sqsqueue_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/Admiral-Piett/goaws/app/gosqs"
	"github.com/Admiral-Piett/goaws/app/models"
	"github.com/Admiral-Piett/goaws/app/servertest"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/sirupsen/logrus"
)

// goawsURL is the in-process SQS server's endpoint, set by TestMain.
var goawsURL string

// TestMain runs one goaws server for the test process (it keeps its queues in
// package globals), on 127.0.0.1 at a port it picks, with its periodic tasks
// (visibility timeouts, the deduplication interval) running, and stops both
// when the tests are done.
func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	logrus.SetOutput(io.Discard)
	srv, err := servertest.New("127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "goaws:", err)
		return 1
	}
	defer srv.Quit()
	// servertest records the port it was given ("0") for the queue URLs it
	// answers with; record the one it listens on. FIFO deduplication is off
	// in goaws unless enabled, as it is in SQS.
	_, port, _ := net.SplitHostPort(srv.URL()[len("http://"):])
	models.CurrentEnvironment.Port = port
	models.CurrentEnvironment.Region = ""
	models.CurrentEnvironment.AccountID = "100010001000"
	models.CurrentEnvironment.EnableDuplicates = true
	quit := make(chan bool)
	defer close(quit)
	go gosqs.PeriodicTasks(time.Second, quit)
	goawsURL = srv.URL()
	return m.Run()
}

func sqsClient() *sqs.Client {
	return sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(goawsURL),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDLATCHTEST", "latch-test-secret", "")})
}

// newFIFOQueue creates a FIFO queue with a name of its own.
func newFIFOQueue(t *testing.T, name string) string {
	t.Helper()
	out, err := sqsClient().CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String(name + ".fifo"),
		Attributes: map[string]string{"FifoQueue": "true", "VisibilityTimeout": "30"}})
	if err != nil {
		t.Fatalf("CreateQueue: %v", err)
	}
	return aws.ToString(out.QueueUrl)
}
