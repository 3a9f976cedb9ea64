package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"
	"github.com/latchhq/latch/pkg/flows"
	"github.com/latchhq/latch/pkg/policy"
	latchstrategies "github.com/latchhq/latch/pkg/strategies"
)

// flowsPath is where the functions find the flow files: the flows layer is
// extracted under /opt, and its zip holds latch/flows/<file>.
const flowsPath = "/opt/latch/flows"

// loadFlows validates the flows of dir as the deployed functions will load
// them (only the deployed strategies are accepted, each with its own
// settings check), and returns the paths of the flow files and the
// strategies they use, sorted. A problem fails the synth with one
// "file:line: reason" per line.
func loadFlows(dir string, strategies []string) (files, used []string, err error) {
	opts := latchstrategies.FlowOptions(strategies...)
	opts.Rules = policy.Compiler{} // a rule that does not compile fails the synth
	loaded, err := flows.Load(dir, opts)
	if err != nil {
		return nil, nil, fmt.Errorf("flows in %s are not valid:\n%w", dir, err)
	}
	files = make([]string, len(loaded))
	for i, f := range loaded {
		files[i] = f.File
		if f.Strategy != nil && !slices.Contains(used, f.Strategy.Type) {
			used = append(used, f.Strategy.Type)
		}
	}
	slices.Sort(used)
	return files, used, nil
}

// newFlowsLayer ships the validated flow files, and nothing else from the
// flows directory, as a Lambda layer: the files are copied into a folder of
// the cloud assembly, which becomes the layer's asset. Editing a flow and
// deploying again publishes a new layer version and updates every function
// that uses it.
func newFlowsLayer(stack awscdk.Stack, files []string) awslambda.LayerVersion {
	src := filepath.Join(*awscdk.Stage_Of(stack).Outdir(), "latch-flows-"+*stack.StackName())
	dst := filepath.Join(src, strings.TrimPrefix(flowsPath, "/opt/"))
	if err := os.RemoveAll(src); err != nil {
		panic(err)
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		panic(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			panic(err)
		}
		if err := os.WriteFile(filepath.Join(dst, filepath.Base(f)), b, 0o644); err != nil {
			panic(err)
		}
	}
	return awslambda.NewLayerVersion(stack, jsii.String("Flows"), &awslambda.LayerVersionProps{
		Code:                    awslambda.Code_FromAsset(jsii.String(src), nil),
		CompatibleArchitectures: &[]awslambda.Architecture{awslambda.Architecture_ARM_64()},
		CompatibleRuntimes:      &[]awslambda.Runtime{awslambda.Runtime_PROVIDED_AL2023()},
		Description:             jsii.String("Latch flows (" + flowsPath + "), validated at synth"),
		RemovalPolicy:           awscdk.RemovalPolicy_RETAIN,
	})
}
