#!/usr/bin/env bash
# latch/revoke: ends the request's access early, as a person (the requester
# unless told otherwise), and waits until the access is gone. Meant for the end
# of a job, whatever happened before: access still being granted is waited
# for and then revoked; a request still pending is withdrawn (cancelled)
# unless cancel_pending is false; a request with nothing in place, or no
# request at all, is left as it is and the step passes.
set -euo pipefail
if [[ -n ${LATCH_ORB_LIB:-} ]]; then
	eval "$LATCH_ORB_LIB"
else
	# shellcheck source=SCRIPTDIR/lib.sh
	source "${BASH_SOURCE[0]%/*}/lib.sh"
fi
latch_config

id=$(latch_request_id)
if [[ -z $id ]]; then
	latch_say "No Latch request to revoke: request_id is not set, there is no id file, and LATCH_REQUEST_ID is unset (the request step did not run, or failed before Latch made a request)."
	exit 0
fi
timeout_text=$(latch_expand "${LATCH_PARAM_TIMEOUT:-2m}")
timeout=$(latch_seconds "$timeout_text") || latch_die 2 "The timeout \"$timeout_text\" is not a duration such as 90s, 2m or 1h."
deadline=$((SECONDS + timeout))

latch_read "$id"
status=$(latch_field .status)
if [[ $status == escalating ]]; then
	latch_say "Request $id $(latch_describe); waiting for that to finish before revoking it."
fi
while [[ $status == escalating ]] && ((SECONDS < deadline)); do
	left=$((deadline - SECONDS))
	poll=$((left < 25 ? left : 25))
	LATCH_MAX_TIME=$((poll + 15))
	latch_call GET "/v1/requests/$id/wait?timeout=${poll}s"
	[[ $LATCH_STATUS == 200 ]] || latch_die 1 "Could not wait for request $id: $(latch_error_text)"
	status=$(latch_field .status)
done
LATCH_MAX_TIME=30

case $status in
active) action=revoke ;;
pending)
	if [[ ${LATCH_PARAM_CANCEL_PENDING:-true} != true ]]; then
		latch_say "Request $id is still pending; it stays open for approvers (cancel_pending is false)."
		exit 0
	fi
	action=cancel
	;;
escalating)
	latch_die 1 "Request $id was still being granted after $(latch_duration "$timeout"), so it could not be revoked; its access will start. Revoke it when it is active: latch revoke $id --as EMAIL"
	;;
*)
	latch_say "Nothing to revoke: request $id $(latch_describe)."
	exit 0
	;;
esac

as=$(latch_expand "${LATCH_PARAM_AS:-}")
if [[ -z $as ]]; then
	as=$(latch_field .requester.email)
fi
reason=$(latch_expand "${LATCH_PARAM_REASON:-}")
if [[ -z $reason ]]; then
	reason="The CircleCI job is done with it"
	if [[ -n ${CIRCLE_JOB:-} ]]; then
		reason+=" (${CIRCLE_JOB}${CIRCLE_BUILD_NUM:+ #$CIRCLE_BUILD_NUM}${CIRCLE_BUILD_URL:+, $CIRCLE_BUILD_URL})"
	fi
	reason+="."
fi
jq -n --arg who "$as" --arg reason "$reason" '{"as": $who, "reason": $reason}' >"$LATCH_TMP/action.json"
latch_call POST "/v1/requests/$id/$action" "$LATCH_TMP/action.json"
case $LATCH_STATUS in
202) ;;
409)
	# It changed between the look and the call: it ended or was decided.
	refused=$(latch_error_text)
	latch_read "$id"
	status=$(latch_field .status)
	if [[ $status != active && $status != pending ]]; then
		latch_say "Nothing to revoke: request $id $(latch_describe)."
		exit 0
	fi
	latch_die 1 "Latch refused to $action request $id as $as: $refused"
	;;
*)
	latch_die 1 "Latch refused to $action request $id as $as: $(latch_error_text)"
	;;
esac

if [[ $action == cancel ]]; then
	latch_say "Request $id was still pending; asked Latch to withdraw it as $as, so that nobody approves it for a job that has finished."
	exit 0
fi

latch_say "Asked Latch to revoke request $id as $as; waiting until the access is gone."
status=$(latch_field .status)
while [[ $status == active || $status == deescalating ]]; do
	((SECONDS < deadline)) || latch_die 1 "Latch was asked to revoke request $id, but after $(latch_duration "$timeout") it is still $status."
	sleep 1
	latch_read "$id"
	status=$(latch_field .status)
done
if [[ $status == ended ]]; then
	latch_say "Access under request $id has ended (revoked as $as)."
	exit 0
fi
latch_die 1 "Request $id $(latch_describe). The access may still be in place; an admin should look at the request."
