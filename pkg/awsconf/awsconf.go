// Package awsconf builds the AWS SDK configuration of one AWS strategy from
// its flow settings, the way AWS users expect: credentials from the default
// chain (environment, shared files, the Lambda's role), an optional role
// assumed with STS for a target in another account (role_arn, external_id),
// an optional region, and the SDK's standard endpoint settings
// (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_<SERVICE>), so a strategy can be
// pointed at LocalStack or a test fake without code of ours. Classify sorts
// an AWS error into retried (transient) and not (latch.Permanent).
package awsconf

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/latchhq/latch/pkg/latch"
)

// The strategy settings this package reads.
const (
	KeyRegion     = "region"
	KeyRoleARN    = "role_arn"
	KeyExternalID = "external_id"
)

// SessionName is the role session name Latch assumes roles with; it shows
// in the target account's CloudTrail.
const SessionName = "latch"

// Settings are the AWS connection settings of one strategy.
type Settings struct {
	Region     string // empty: the default chain's (AWS_REGION, shared config)
	RoleARN    string // empty: the default chain's credentials as they are
	ExternalID string // with RoleARN, when the role's trust policy asks for one
}

// The settings' shapes, compiled on first use (not at every program's
// start).
var (
	roleARN = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$`)
	})
	region     = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d{1,2}$`) })
	externalID = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[\w+=,.@:/-]+$`) })
)

// Parse reads the settings from a strategy's config, ignoring keys it does
// not know. It returns an error naming the key when a value is not a string
// or has the wrong shape.
func Parse(cfg map[string]any) (Settings, error) {
	var s Settings
	for _, f := range []struct {
		key  string
		dst  *string
		re   func() *regexp.Regexp
		want string
	}{
		{KeyRegion, &s.Region, region, "an AWS region such as eu-west-1"},
		{KeyRoleARN, &s.RoleARN, roleARN, "an IAM role ARN such as arn:aws:iam::123456789012:role/latch"},
		{KeyExternalID, &s.ExternalID, externalID, "2 to 1224 characters of letters, digits and +=,.@:/-_"},
	} {
		v, ok := cfg[f.key]
		if !ok || v == nil {
			continue
		}
		str, ok := v.(string)
		if !ok {
			return Settings{}, fmt.Errorf("%s must be a string", f.key)
		}
		if !f.re().MatchString(str) || (f.key == KeyExternalID && (len(str) < 2 || len(str) > 1224)) {
			return Settings{}, fmt.Errorf("%s %q is not %s", f.key, str, f.want)
		}
		*f.dst = str
	}
	if s.ExternalID != "" && s.RoleARN == "" {
		return Settings{}, fmt.Errorf("%s needs %s: it is sent when assuming that role", KeyExternalID, KeyRoleARN)
	}
	return s, nil
}

// Load builds the SDK configuration: the default chain, the region when
// set, any further load options (an HTTP client, a retryer), and, when
// RoleARN is set,
// credentials from assuming that role with STS (cached and refreshed before
// they expire). Endpoints follow the SDK's own settings, for every service
// client made from the result and for STS itself.
func (s Settings) Load(ctx context.Context, more ...func(*config.LoadOptions) error) (aws.Config, error) {
	var opts []func(*config.LoadOptions) error
	if s.Region != "" {
		opts = append(opts, config.WithRegion(s.Region))
	}
	opts = append(opts, more...)
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	if s.RoleARN != "" {
		provider := stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), s.RoleARN, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = SessionName
			if s.ExternalID != "" {
				o.ExternalID = aws.String(s.ExternalID)
			}
		})
		cfg.Credentials = aws.NewCredentialsCache(provider)
	}
	return cfg, nil
}

// Classify marks err permanent (latch.Permanent) when retrying cannot fix
// it: an AWS client error (4xx) that is not throttling, a conflict or a
// timeout. Throttling, conflicts, server errors (5xx), time-outs and
// transport failures stay transient, for the revoke machinery to retry with
// its backoff (the SDK has already retried them a few times with its own,
// honouring the service's retry hints). Nil stays nil; an error already
// marked permanent is returned as it is.
func Classify(err error) error {
	if err == nil || latch.IsPermanent(err) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code := ae.ErrorCode()
		if _, ok := retry.DefaultThrottleErrorCodes[code]; ok {
			return err
		}
		if _, ok := transientCodes[code]; ok {
			return err
		}
		if ae.ErrorFault() == smithy.FaultServer {
			return err
		}
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		switch status := re.HTTPStatusCode(); {
		case status == http.StatusTooManyRequests, status == http.StatusConflict, status >= 500:
			return err
		case status >= 400:
			return latch.Permanent(err)
		}
	}
	if ae != nil && ae.ErrorFault() == smithy.FaultClient {
		return latch.Permanent(err)
	}
	return err
}

// transientCodes are client-fault error codes that a later try can pass:
// a change in flight on the same resource, or eventual consistency.
var transientCodes = map[string]struct{}{
	"ConflictException":               {},
	"ConcurrentModification":          {},
	"ConcurrentModificationException": {},
	"OperationAbortedException":       {},
	"RequestTimeout":                  {},
	"RequestTimeoutException":         {},
	"IDPCommunicationError":           {},
}
