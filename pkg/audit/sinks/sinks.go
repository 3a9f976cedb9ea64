// Package sinks builds the audit destinations a deployment configures in
// its environment (LATCH_AUDIT_*).
package sinks

import (
	"context"
	"fmt"
	"github.com/latchhq/latch/pkg/env"
	"os"
	"strconv"
	"strings"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	awsfirehose "github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/latchhq/latch/pkg/audit"
	"github.com/latchhq/latch/pkg/audit/datadog"
	"github.com/latchhq/latch/pkg/audit/firehose"
	"github.com/latchhq/latch/pkg/audit/httpsink"
	"github.com/latchhq/latch/pkg/audit/stdout"
	"github.com/latchhq/latch/pkg/latch"
)

// FromEnv builds the audit destinations the environment configures, for
// latch server and the audit function alike. A setting that is wrong is a
// latch.KindInvalid *latch.Error naming it.
//
//	LATCH_AUDIT_STDOUT=true                 every event as a JSON line on standard output
//	LATCH_AUDIT_DATADOG_SITE=EU1            Datadog logs (US1, US3, US5, EU1, AP1, ... or the site's domain)
//	LATCH_AUDIT_DATADOG_API_KEY (or DD_API_KEY), LATCH_AUDIT_DATADOG_TAGS=env:prod,team:security,
//	LATCH_AUDIT_DATADOG_SERVICE, LATCH_AUDIT_DATADOG_URL (an intake address of your own, e.g. a proxy)
//	LATCH_AUDIT_HTTP_URL, LATCH_AUDIT_HTTP_SECRET  signed POSTs of {"schema_version":1,"events":[...]}
//	LATCH_AUDIT_FIREHOSE_STREAM=latch-audit  Amazon Data Firehose (credentials and region from the AWS environment);
//	LATCH_AUDIT_FIREHOSE_ENDPOINT (another endpoint, e.g. a VPC endpoint)
func FromEnv(ctx context.Context, getenv func(string) string) ([]audit.Sink, error) {
	var sinks []audit.Sink
	if on, _ := strconv.ParseBool(getenv("LATCH_AUDIT_STDOUT")); on {
		s, err := stdout.New(stdout.Config{Writer: os.Stdout})
		if err != nil {
			return nil, err
		}
		sinks = append(sinks, s)
	}
	if site, url := getenv("LATCH_AUDIT_DATADOG_SITE"), getenv("LATCH_AUDIT_DATADOG_URL"); site != "" || url != "" {
		key := getenv("LATCH_AUDIT_DATADOG_API_KEY")
		if key == "" {
			key = getenv("DD_API_KEY")
		}
		if key == "" {
			return nil, invalid("the Datadog audit destination needs an API key: set LATCH_AUDIT_DATADOG_API_KEY or DD_API_KEY", nil)
		}
		s, err := datadog.New(datadog.Config{Site: site, Endpoint: url, APIKey: key, Service: getenv("LATCH_AUDIT_DATADOG_SERVICE"),
			Tags: env.List(getenv("LATCH_AUDIT_DATADOG_TAGS"))})
		if err != nil {
			return nil, invalid("Datadog audit destination", err)
		}
		sinks = append(sinks, s)
	}
	if stream := getenv("LATCH_AUDIT_FIREHOSE_STREAM"); stream != "" {
		cfg, err := awsconfig.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("Firehose audit destination: AWS configuration: %w", err)
		}
		client := awsfirehose.NewFromConfig(cfg, func(o *awsfirehose.Options) {
			if ep := getenv("LATCH_AUDIT_FIREHOSE_ENDPOINT"); ep != "" {
				o.BaseEndpoint = &ep
			}
		})
		s, err := firehose.New(firehose.Config{DeliveryStream: stream, Client: client})
		if err != nil {
			return nil, invalid("Firehose audit destination (LATCH_AUDIT_FIREHOSE_STREAM)", err)
		}
		sinks = append(sinks, s)
	}
	if u := getenv("LATCH_AUDIT_HTTP_URL"); u != "" {
		s, err := httpsink.New(httpsink.Config{URL: u, Secret: []byte(getenv("LATCH_AUDIT_HTTP_SECRET"))})
		if err != nil {
			return nil, invalid("HTTP audit destination (LATCH_AUDIT_HTTP_URL, LATCH_AUDIT_HTTP_SECRET)", err)
		}
		sinks = append(sinks, s)
	}
	return sinks, nil
}

// Names lists the destinations' names, comma-separated.
func Names(sinks []audit.Sink) string {
	names := make([]string, len(sinks))
	for i, s := range sinks {
		names[i] = s.Name()
	}
	return strings.Join(names, ",")
}

func invalid(what string, err error) error {
	msg := what
	if err != nil {
		msg += ": " + err.Error()
	}
	return &latch.Error{Kind: latch.KindInvalid, Code: "audit_config", Message: msg + ".", Err: err}
}
