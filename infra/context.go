package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/latchhq/latch/pkg/env"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/jsii-runtime-go"
)

// Context keys of the customer's choices (see the package comment).
const (
	ctxStackName     = "latch:stackName"
	ctxLambdaDir     = "latch:lambdaDir"
	ctxFlowsDir      = "latch:flowsDir"
	ctxDomains       = "latch:domains"
	ctxAlarmEmail    = "latch:alarmEmail"
	ctxStrategies    = "latch:strategies" // ignored: every strategy of the build is deployed
	ctxCrossAccount  = "latch:crossAccountRoleArns"
	ctxAuditFirehose = "latch:auditFirehoseStream"
	ctxAuditSettings = "latch:auditSettings"
	ctxSlackSettings = "latch:slackSettings"
	ctxLogRetention  = "latch:logRetentionDays"
	ctxSMLogLevel    = "latch:stateMachineLogLevel"
	ctxSMLogData     = "latch:stateMachineLogExecutionData"
	ctxTaskConc      = "latch:taskConcurrency"
	ctxAPIRate       = "latch:apiRateLimit"
	ctxAPIBurst      = "latch:apiBurstLimit"
	defaultStackName = "Latch"
	defaultLambdaDir = "bin/lambda"
	defaultFlowsDir  = "flows"
)

// propsFromContext reads the stack's props from the app's context. Values
// from cdk.json are JSON (strings, lists, objects); values from
// `-c key=value` are strings, where a list is comma-separated and an object
// is JSON.
func propsFromContext(app awscdk.App) (*LatchStackProps, string, error) {
	get := func(key string) any { return app.Node().TryGetContext(jsii.String(key)) }
	var errs []error
	str := func(key, def string) string {
		switch v := get(key).(type) {
		case nil:
			return def
		case string:
			if v == "" {
				return def
			}
			return v
		default:
			errs = append(errs, fmt.Errorf("context %s: want a string, got %v", key, v))
			return def
		}
	}
	list := func(key, def string) []string {
		v := get(key)
		if v == nil {
			v = def
		}
		out, err := stringList(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("context %s: %w", key, err))
		}
		return out
	}
	num := func(key string) *float64 {
		switch v := get(key).(type) {
		case nil:
			return nil
		case float64:
			return &v
		case string:
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				errs = append(errs, fmt.Errorf("context %s: want a number, got %q", key, v))
				return nil
			}
			return &f
		default:
			errs = append(errs, fmt.Errorf("context %s: want a number, got %v", key, v))
			return nil
		}
	}
	p := &LatchStackProps{
		StateMachineLogLevel: strings.ToUpper(str(ctxSMLogLevel, "")),
		TaskConcurrency:      num(ctxTaskConc),
		LambdaDir:            str(ctxLambdaDir, defaultLambdaDir),
		FlowsDir:             str(ctxFlowsDir, defaultFlowsDir),
		Domains:              list(ctxDomains, ""),
		AlarmEmail:           str(ctxAlarmEmail, ""),
		AuditFirehoseStream:  str(ctxAuditFirehose, ""),
	}
	if r := num(ctxAPIRate); r != nil {
		p.APIRate = *r
	}
	if b := num(ctxAPIBurst); b != nil {
		p.APIBurst = *b
	}
	switch v := get(ctxSMLogData).(type) {
	case nil:
	case bool:
		p.StateMachineLogExecutionData = v
	case string:
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("context %s: want true or false, got %q", ctxSMLogData, v))
		}
		p.StateMachineLogExecutionData = b
	default:
		errs = append(errs, fmt.Errorf("context %s: want true or false, got %v", ctxSMLogData, v))
	}
	name := str(ctxStackName, defaultStackName)
	roles, err := stringListMap(get(ctxCrossAccount))
	if err != nil {
		errs = append(errs, fmt.Errorf("context %s: %w", ctxCrossAccount, err))
	}
	p.CrossAccountRoleArns = roles
	settings, err := stringMap(get(ctxAuditSettings))
	if err != nil {
		errs = append(errs, fmt.Errorf("context %s: %w", ctxAuditSettings, err))
	}
	p.AuditSettings = settings
	slack, err := stringMap(get(ctxSlackSettings))
	if err != nil {
		errs = append(errs, fmt.Errorf("context %s: %w", ctxSlackSettings, err))
	}
	p.SlackSettings = slack
	var days string
	switch v := get(ctxLogRetention).(type) {
	case nil:
	case string:
		days = v
	case float64:
		days = strconv.FormatFloat(v, 'f', -1, 64)
	default:
		days = fmt.Sprint(v)
	}
	if days != "" {
		r, err := retention(days)
		if err != nil {
			errs = append(errs, fmt.Errorf("context %s: %w", ctxLogRetention, err))
		}
		p.LogRetention = r
	}
	return p, name, errors.Join(errs...)
}

// stringList accepts a JSON list of strings, or a string: a JSON list, or
// comma-separated values.
func stringList(v any) ([]string, error) {
	switch v := v.(type) {
	case string:
		s := strings.TrimSpace(v)
		if strings.HasPrefix(s, "[") {
			var out []string
			if err := json.Unmarshal([]byte(s), &out); err != nil {
				return nil, fmt.Errorf("want a JSON list of strings: %w", err)
			}
			return out, nil
		}
		return env.List(s), nil
	case []any:
		out := make([]string, len(v))
		for i, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("want a list of strings, item %d is %v", i, e)
			}
			out[i] = s
		}
		return out, nil
	default:
		return nil, fmt.Errorf("want a list of strings, got %v", v)
	}
}

// stringListMap accepts an object of lists of strings, or a string holding
// one in JSON; nil is empty.
func stringListMap(v any) (map[string][]string, error) {
	out := map[string][]string{}
	switch v := v.(type) {
	case nil:
		return out, nil
	case string:
		if strings.TrimSpace(v) == "" {
			return out, nil
		}
		if err := json.Unmarshal([]byte(v), &out); err != nil {
			return nil, fmt.Errorf(`want a JSON object such as {"aws_iam": ["arn:aws:iam::123456789012:role/name"]}: %w`, err)
		}
		return out, nil
	case map[string]any:
		for k, e := range v {
			l, err := stringList(e)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[k] = l
		}
		return out, nil
	default:
		return nil, fmt.Errorf("want an object of lists of role ARNs, got %v", v)
	}
}

// stringMap accepts an object of strings, or a string holding one in JSON;
// nil is empty.
func stringMap(v any) (map[string]string, error) {
	out := map[string]string{}
	switch v := v.(type) {
	case nil:
		return out, nil
	case string:
		if strings.TrimSpace(v) == "" {
			return out, nil
		}
		if err := json.Unmarshal([]byte(v), &out); err != nil {
			return nil, fmt.Errorf(`want a JSON object of strings such as {"LATCH_AUDIT_DATADOG_SITE": "EU1"}: %w`, err)
		}
		return out, nil
	case map[string]any:
		for k, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("%s: want a string, got %v", k, e)
			}
			out[k] = s
		}
		return out, nil
	default:
		return nil, fmt.Errorf("want an object of strings, got %v", v)
	}
}

// retentions are the retentions CloudWatch Logs offers, by days.
var retentions = map[int]awslogs.RetentionDays{
	1: awslogs.RetentionDays_ONE_DAY, 3: awslogs.RetentionDays_THREE_DAYS, 5: awslogs.RetentionDays_FIVE_DAYS,
	7: awslogs.RetentionDays_ONE_WEEK, 14: awslogs.RetentionDays_TWO_WEEKS, 30: awslogs.RetentionDays_ONE_MONTH,
	60: awslogs.RetentionDays_TWO_MONTHS, 90: awslogs.RetentionDays_THREE_MONTHS, 120: awslogs.RetentionDays_FOUR_MONTHS,
	150: awslogs.RetentionDays_FIVE_MONTHS, 180: awslogs.RetentionDays_SIX_MONTHS, 365: awslogs.RetentionDays_ONE_YEAR,
	400: awslogs.RetentionDays_THIRTEEN_MONTHS, 545: awslogs.RetentionDays_EIGHTEEN_MONTHS, 731: awslogs.RetentionDays_TWO_YEARS,
	1096: awslogs.RetentionDays_THREE_YEARS, 1827: awslogs.RetentionDays_FIVE_YEARS, 2192: awslogs.RetentionDays_SIX_YEARS,
	2557: awslogs.RetentionDays_SEVEN_YEARS, 2922: awslogs.RetentionDays_EIGHT_YEARS, 3288: awslogs.RetentionDays_NINE_YEARS,
	3653: awslogs.RetentionDays_TEN_YEARS,
}

// retention maps a number of days to the retention CloudWatch Logs offers.
func retention(days string) (awslogs.RetentionDays, error) {
	n, err := strconv.Atoi(days)
	if err != nil {
		return "", fmt.Errorf("want a number of days, got %q", days)
	}
	if r, ok := retentions[n]; ok {
		return r, nil
	}
	keys := make([]int, 0, len(retentions))
	for k := range retentions {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return "", fmt.Errorf("%d days is not a retention CloudWatch Logs offers %v", n, keys)
}
