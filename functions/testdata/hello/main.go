// Command hello is the smallest aws-lambda-go function, built the same way
// as Latch's: the yardstick for their size and start time in
// BenchmarkColdStart.
package main

import "github.com/aws/aws-lambda-go/lambda"

func main() { lambda.Start(func() (string, error) { return "hello", nil }) }
