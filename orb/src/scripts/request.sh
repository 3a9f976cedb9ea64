#!/usr/bin/env bash
# latch/request: asks Latch, through a flow, for a request on a person's
# behalf. The request id goes to the id file and, as LATCH_REQUEST_ID, to
# $BASH_ENV for the steps after. An idempotency key makes a retried step
# answer with the request the first try made instead of making a second one.
set -euo pipefail
if [[ -n ${LATCH_ORB_LIB:-} ]]; then
	eval "$LATCH_ORB_LIB"
else
	# shellcheck source=SCRIPTDIR/lib.sh
	source "${BASH_SOURCE[0]%/*}/lib.sh"
fi
latch_config

id_file=$(latch_expand "${LATCH_PARAM_REQUEST_ID_FILE:-}")
if [[ -n $id_file ]]; then
	# A runner that keeps /tmp between jobs must not hand a later step the
	# id of an earlier job's request if this one fails.
	rm -f "$id_file"
fi

flow=$(latch_expand "${LATCH_PARAM_FLOW:-}")
user=$(latch_expand "${LATCH_PARAM_ON_BEHALF_OF:-}")
[[ -n $flow ]] || latch_die 2 "The flow parameter is empty: name the Latch flow to request through (GET /v1/flows lists them)."
[[ -n $user ]] || latch_die 2 "The on_behalf_of parameter is empty: give the email of the person the request is for."

fields=$(latch_json_object fields "${LATCH_PARAM_FIELDS:-}")

# The context: what CircleCI says about the job, then each context file, then
# the context parameter; a later key wins.
context='{}'
if [[ ${LATCH_PARAM_INCLUDE_CIRCLECI_CONTEXT:-true} == true ]]; then
	context=$(jq -cn '{circleci: ({
		project: (if ($ENV.CIRCLE_PROJECT_USERNAME // "") != "" then "\($ENV.CIRCLE_PROJECT_USERNAME)/\($ENV.CIRCLE_PROJECT_REPONAME // "")" else "" end),
		job: ($ENV.CIRCLE_JOB // ""), build_url: ($ENV.CIRCLE_BUILD_URL // ""),
		workflow_id: ($ENV.CIRCLE_WORKFLOW_ID // ""), workflow_job_id: ($ENV.CIRCLE_WORKFLOW_JOB_ID // ""),
		branch: ($ENV.CIRCLE_BRANCH // ""), tag: ($ENV.CIRCLE_TAG // ""), sha: ($ENV.CIRCLE_SHA1 // ""),
		username: ($ENV.CIRCLE_USERNAME // "")
	} | with_entries(select(.value != "")))} | if .circleci == {} then {} else . end')
fi
context_files=$(latch_expand "${LATCH_PARAM_CONTEXT_FILE:-}")
set -f # split the list on blanks, expanding no patterns
for f in $context_files; do
	[[ -f $f && -r $f ]] || latch_die 2 "The context file $f does not exist or cannot be read (the working directory is $PWD)."
	more=$(latch_json_object "The context file $f" "$(<"$f")")
	context=$(jq -cn --argjson a "$context" --argjson b "$more" '$a * $b')
done
set +f
more=$(latch_json_object context "${LATCH_PARAM_CONTEXT:-}")
context=$(jq -cn --argjson a "$context" --argjson b "$more" '$a * $b')

key=$(latch_expand "${LATCH_PARAM_IDEMPOTENCY_KEY:-}")
if [[ -z $key ]]; then
	[[ -n ${CIRCLE_WORKFLOW_JOB_ID:-} ]] || latch_die 2 "CIRCLE_WORKFLOW_JOB_ID is unset, so there is no default idempotency key: set the idempotency_key parameter to something stable for this job run."
	key="circleci:$CIRCLE_WORKFLOW_JOB_ID:$flow:$user"
fi
[[ $key != *[[:cntrl:]]* ]] || latch_die 2 "The idempotency key must not hold control characters such as newlines."
((${#key} <= 255)) || latch_die 2 "The idempotency key is ${#key} characters long; Latch takes at most 255."

jq -n --arg flow "$flow" --arg user "$user" --argjson fields "$fields" --argjson context "$context" \
	'{flow: $flow, user_email: $user, fields: $fields} + (if $context == {} then {} else {context: $context} end)' \
	>"$LATCH_TMP/request.json"

latch_call POST /v1/requests "$LATCH_TMP/request.json" "Idempotency-Key: $key"
[[ $LATCH_STATUS == 202 || $LATCH_STATUS == 200 ]] ||
	latch_die 1 "Latch refused the request through flow \"$flow\" for $user: $(latch_error_text)"

id=$(latch_field .id)
[[ $id =~ ^[A-Za-z0-9_-]+$ ]] || latch_die 1 "Latch accepted the request but its answer holds no request id."
if [[ -n $id_file ]]; then
	if [[ $id_file == */* ]]; then
		mkdir -p "${id_file%/*}"
	fi
	printf '%s\n' "$id" >"$id_file"
fi
if [[ -n ${BASH_ENV:-} ]]; then
	printf 'export LATCH_REQUEST_ID=%q\n' "$id" >>"$BASH_ENV"
fi

if [[ $(latch_header Idempotent-Replayed) == true ]]; then
	latch_say "Latch request $id already existed for this idempotency key ($key); using it."
else
	latch_say "Latch request $id: flow \"$flow\" for $user."
fi
latch_say "Request $id $(latch_describe)."
[[ -z $id_file ]] || latch_say "Its id is in $id_file and, for the steps after this one, in \$LATCH_REQUEST_ID."
