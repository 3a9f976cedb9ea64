package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/jsii-runtime-go"
)

// accessLogFormat is one JSON line per request: no header, no body, no
// query string (Slack's and the API's requests carry tokens).
const accessLogFormat = `{"requestId":"$context.requestId","ip":"$context.identity.sourceIp","time":"$context.requestTime",` +
	`"method":"$context.httpMethod","path":"$context.path","route":"$context.routeKey","status":"$context.status",` +
	`"length":"$context.responseLength","latencyMs":"$context.responseLatency","integrationError":"$context.integrationErrorMessage"}`

// slackPaths are Slack's request URLs (slash commands, interactivity, the
// Events API, select menus' options), all served by the slack function.
var slackPaths = []string{"/slack/commands", "/slack/interactions", "/slack/events", "/slack/options"}

// newHTTPAPI is the one public entry point: Slack's requests to the slack
// function, the API (/v1/...) and the health check to the api function. It
// returns the API's URL.
func newHTTPAPI(stack awscdk.Stack, p *LatchStackProps, fs *functions) string {
	api := awsapigatewayv2.NewHttpApi(stack, jsii.String("HttpApi"), &awsapigatewayv2.HttpApiProps{
		Description: jsii.String("Latch: Slack requests and the Latch API"),
	})
	// The default stage: throttled (a flood of requests is refused with 429
	// before it reaches a function), and every request in the access log.
	access := awslogs.NewLogGroup(stack, jsii.String("HttpApiAccessLogs"), &awslogs.LogGroupProps{
		Retention:     p.LogRetention,
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	stage := api.DefaultStage().Node().DefaultChild().(awsapigatewayv2.CfnStage)
	stage.SetDefaultRouteSettings(&awsapigatewayv2.CfnStage_RouteSettingsProperty{
		ThrottlingRateLimit:  jsii.Number(p.APIRate),
		ThrottlingBurstLimit: jsii.Number(p.APIBurst),
	})
	stage.SetAccessLogSettings(&awsapigatewayv2.CfnStage_AccessLogSettingsProperty{
		DestinationArn: access.LogGroupArn(),
		Format:         jsii.String(accessLogFormat),
	})
	slack := awsapigatewayv2integrations.NewHttpLambdaIntegration(jsii.String("SlackIntegration"), fs.Slack.Fn, nil)
	for _, path := range slackPaths {
		api.AddRoutes(&awsapigatewayv2.AddRoutesOptions{
			Path:        jsii.String(path),
			Methods:     &[]awsapigatewayv2.HttpMethod{awsapigatewayv2.HttpMethod_POST},
			Integration: slack,
		})
	}
	latchAPI := awsapigatewayv2integrations.NewHttpLambdaIntegration(jsii.String("ApiIntegration"), fs.API.Fn, nil)
	api.AddRoutes(&awsapigatewayv2.AddRoutesOptions{
		Path:        jsii.String("/v1/{proxy+}"),
		Methods:     &[]awsapigatewayv2.HttpMethod{awsapigatewayv2.HttpMethod_ANY},
		Integration: latchAPI,
	})
	api.AddRoutes(&awsapigatewayv2.AddRoutesOptions{
		Path:        jsii.String("/healthz"),
		Methods:     &[]awsapigatewayv2.HttpMethod{awsapigatewayv2.HttpMethod_GET},
		Integration: latchAPI,
	})
	return *api.Url()
}
