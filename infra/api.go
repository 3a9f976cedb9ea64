package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	"github.com/aws/jsii-runtime-go"
)

// slackPaths are Slack's request URLs (slash commands, interactivity, the
// Events API, select menus' options), all served by the slack function.
var slackPaths = []string{"/slack/commands", "/slack/interactions", "/slack/events", "/slack/options"}

// newHTTPAPI is the one public entry point: Slack's requests to the slack
// function, the API (/v1/...) and the health check to the api function. It
// returns the API's URL.
func newHTTPAPI(stack awscdk.Stack, fs *functions) string {
	api := awsapigatewayv2.NewHttpApi(stack, jsii.String("HttpApi"), &awsapigatewayv2.HttpApiProps{
		Description: jsii.String("Latch: Slack requests and the Latch API"),
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
