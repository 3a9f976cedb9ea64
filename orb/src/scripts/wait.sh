#!/usr/bin/env bash
# latch/wait: blocks until the request is approved (an approval-only flow) or
# its access is active, long-polling Latch's wait route and printing a line at
# least every 25 seconds. The step fails when the request is denied, expires,
# is cancelled, fails or has already ended, and when the timeout passes; a
# request still pending then is withdrawn unless cancel_on_timeout is false.
set -euo pipefail
if [[ -n ${LATCH_ORB_LIB:-} ]]; then
	eval "$LATCH_ORB_LIB"
else
	# shellcheck source=SCRIPTDIR/lib.sh
	source "${BASH_SOURCE[0]%/*}/lib.sh"
fi
latch_config

id=$(latch_request_id)
[[ -n $id ]] || latch_die 2 "There is no request to wait for: run latch/request earlier in this job, attach the workspace that holds its id file, or set request_id."
timeout_text=$(latch_expand "${LATCH_PARAM_TIMEOUT:-30m}")
timeout=$(latch_seconds "$timeout_text") || latch_die 2 "The timeout \"$timeout_text\" is not a duration such as 90s, 30m or 2h."

# outcome: ends the step on a request that is no longer waiting.
outcome() {
	local status
	status=$(latch_field .status)
	case $status in
	approved | active)
		latch_say "Request $id $(latch_describe)."
		exit 0
		;;
	failed)
		if [[ $(latch_field .failure.stage) != deescalate ]]; then
			latch_die 1 "Request $id $(latch_describe). Once the cause is fixed, an admin can retry it: latch retry $id --as ADMIN_EMAIL"
		fi
		latch_die 1 "Request $id $(latch_describe)."
		;;
	*)
		latch_die 1 "Request $id $(latch_describe)."
		;;
	esac
}

start=$SECONDS
deadline=$((start + timeout))
latch_say "Waiting up to $(latch_duration "$timeout") for Latch request $id."
last=""
while :; do
	left=$((deadline - SECONDS))
	((left > 0)) || left=0
	poll=$((left < 25 ? left : 25))
	LATCH_MAX_TIME=$((poll + 15))
	latch_call GET "/v1/requests/$id/wait?timeout=${poll}s"
	[[ $LATCH_STATUS == 200 ]] || latch_die 1 "Could not wait for request $id: $(latch_error_text)"
	status=$(latch_field .status)
	if [[ $status != pending && $status != escalating ]]; then
		outcome
	fi
	waited=$(latch_duration $((SECONDS - start)))
	if [[ $status != "$last" ]]; then
		latch_say "Request $id $(latch_describe) (waited $waited so far)."
		last=$status
	else
		latch_say "Still $status after $waited."
	fi
	((SECONDS < deadline)) || break
done

given_up="Gave up after $(latch_duration "$timeout"): request $id is still $status"
if [[ $status == escalating ]]; then
	latch_die 1 "$given_up: it was approved and Latch is still granting the access, which will start without this job waiting for it. Revoke it (latch/revoke) if nothing will use it."
fi
if [[ ${LATCH_PARAM_CANCEL_ON_TIMEOUT:-true} != true ]]; then
	latch_die 1 "$given_up; it stays open for approvers (cancel_on_timeout is false)."
fi
jq -n --arg who "$(latch_field .requester.email)" --arg reason "The CircleCI job stopped waiting for it after $(latch_duration "$timeout")." \
	'{"as": $who, "reason": $reason}' >"$LATCH_TMP/cancel.json"
LATCH_MAX_TIME=30
latch_call POST "/v1/requests/$id/cancel" "$LATCH_TMP/cancel.json"
case $LATCH_STATUS in
202)
	latch_die 1 "$given_up. Latch has been asked to withdraw it, so that nobody approves it for a job that is no longer waiting."
	;;
409)
	# Decided between the last look and the cancel.
	latch_read "$id"
	status=$(latch_field .status)
	if [[ $status == escalating ]]; then
		latch_die 1 "$given_up: it was approved at the last moment and Latch is granting the access. Revoke it (latch/revoke) if nothing will use it."
	fi
	outcome
	;;
*)
	latch_die 1 "$given_up, and it could not be withdrawn: $(latch_error_text)"
	;;
esac
