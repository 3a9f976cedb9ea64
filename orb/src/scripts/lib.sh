# shellcheck shell=bash
# Helpers the Latch orb's scripts share: configuration, the API call with its
# retries, error text, and a request's state in words.
#
# Each command passes this file's text in LATCH_ORB_LIB and its script
# evaluates it first: a packed orb inlines every script into its step, so
# there is no file beside the script to source.
#
# The API token is never printed and never put on a command line: it is read
# from the variable the token parameter names and handed to curl in a config
# file only this user can read, removed when the step ends.
#
# Exit codes: 1 when the request did not go through (refused, denied,
# expired, cancelled, failed, timed out, or Latch answered with an error);
# 2 when a parameter or the job's environment is wrong.

# latch_die CODE MESSAGE...: prints the message and exits with CODE.
latch_die() {
	local code=$1
	shift
	printf 'Error: %s\n' "$*" >&2
	exit "$code"
}

# latch_say MESSAGE...: prints a line of progress.
latch_say() {
	printf '%s\n' "$*"
}

# The jq definition behind latch_expand and latch_json_object: $NAME and
# ${NAME} in a string become that environment variable (empty when unset), as
# a shell would expand them. Nothing is evaluated. The variable holding the
# API token is refused, so the token cannot leak into a request.
# shellcheck disable=SC2016 # a jq program: its $names are jq's, not the shell's
LATCH_JQ_EXPAND='def latch_expand($tok):
  if test("\\$") then
    gsub("\\$(?:\\{(?<a>[A-Za-z_][A-Za-z0-9_]*)\\}|(?<b>[A-Za-z_][A-Za-z0-9_]*))";
      (.a // .b) as $n
      | if $n == $tok then error("refusing to expand $\($n): it holds the Latch API token")
        else ($ENV[$n] // "") end)
  else . end;'

# latch_expand TEXT: prints TEXT with environment variables expanded.
# CircleCI hands a parameter such as "${LATCH_URL}" to the step as it is
# written; the step expands it.
latch_expand() {
	local out
	out=$(jq -rn --arg s "$1" --arg tok "${LATCH_TOKEN_VAR:-}" "$LATCH_JQ_EXPAND"' $s | latch_expand($tok)' 2>&1) ||
		latch_die 2 "${out#jq: error*: }"
	printf '%s' "$out"
}

# latch_json_object NAME TEXT: prints TEXT, a JSON object, on one line with
# the environment variables in its string values expanded. Blank TEXT is {}.
latch_json_object() {
	local name=$1 text=$2 out
	if [[ -z ${text//[[:space:]]/} ]]; then
		printf '{}'
		return
	fi
	out=$(printf '%s' "$text" | jq -c --arg tok "${LATCH_TOKEN_VAR:-}" "$LATCH_JQ_EXPAND"'
		if type != "object" then error("it is a JSON \(type), not an object")
		else walk(if type == "string" then latch_expand($tok) else . end) end' 2>&1) ||
		latch_die 2 "$name must be a JSON object such as {\"reason\": \"deploy\"}: ${out#jq: error*: } (got: ${text:0:200})"
	printf '%s' "$out"
}

# latch_seconds DURATION: prints a duration such as 90, 90s, 30m, 2h or
# 1h30m in seconds; fails for anything else.
latch_seconds() {
	local s=$1 total=0 n
	if [[ $s =~ ^[0-9]+$ ]]; then
		printf '%d' "$((10#$s))"
		return
	fi
	[[ $s =~ ^([0-9]+[hms])+$ ]] || return 1
	while [[ $s =~ ^([0-9]+)([hms])(.*)$ ]]; do
		n=$((10#${BASH_REMATCH[1]}))
		case ${BASH_REMATCH[2]} in
		h) total=$((total + n * 3600)) ;;
		m) total=$((total + n * 60)) ;;
		s) total=$((total + n)) ;;
		esac
		s=${BASH_REMATCH[3]}
	done
	printf '%d' "$total"
}

# latch_duration SECONDS: prints SECONDS the way a person reads them: 45s, 2m05s, 1h00m00s.
latch_duration() {
	local s=$1
	if ((s >= 3600)); then
		printf '%dh%02dm%02ds' $((s / 3600)) $((s % 3600 / 60)) $((s % 60))
	elif ((s >= 60)); then
		printf '%dm%02ds' $((s / 60)) $((s % 60))
	else
		printf '%ds' "$s"
	fi
}

# latch_config: checks the tools, reads the API URL and the token, and makes
# the step's scratch directory. Every script calls it first.
latch_config() {
	LATCH_TOKEN_VAR=${LATCH_PARAM_TOKEN:-LATCH_TOKEN}
	if [[ ! $LATCH_TOKEN_VAR =~ ^[A-Za-z_][A-Za-z0-9_]*$ || $LATCH_TOKEN_VAR == latch_* ]]; then
		LATCH_TOKEN_VAR="" # it may be the token itself: never print it
		latch_die 2 "The token parameter must be the name of the environment variable that holds the Latch API token (such as LATCH_TOKEN), not the token itself."
	fi
	command -v curl >/dev/null || latch_die 2 "curl is not installed in this image; the Latch orb needs bash, curl and jq (cimg/base has all three)."
	command -v jq >/dev/null || latch_die 2 "jq is not installed in this image; the Latch orb needs bash, curl and jq (cimg/base has all three)."

	local token=${!LATCH_TOKEN_VAR:-} named="the environment variable the token parameter names"
	if [[ $LATCH_TOKEN_VAR =~ ^[A-Z_][A-Z0-9_]*$ ]]; then
		named="The environment variable $LATCH_TOKEN_VAR" # upper case: a name, not a secret
	fi
	[[ -n $token ]] || latch_die 2 "${named^} is empty or unset: store a Latch API token in it, as a project environment variable or in a CircleCI context the job uses."

	LATCH_API_URL=$(latch_expand "${LATCH_PARAM_API_URL:-}")
	LATCH_API_URL=${LATCH_API_URL%/}
	[[ -n $LATCH_API_URL ]] || latch_die 2 "The API URL is empty: set the api_url parameter, or LATCH_URL in the job's environment (such as https://latch.example.com)."
	[[ $LATCH_API_URL =~ ^https?://[^[:space:]]+$ ]] || latch_die 2 "The API URL \"$LATCH_API_URL\" must start with https:// (or http://) and hold no spaces."
	if [[ $LATCH_API_URL =~ ^http://(\[[^]]*\]|[^/:]+) && ! ${BASH_REMATCH[1]} =~ ^(localhost|127\.[0-9.]+|\[::1\])$ ]]; then
		latch_say "Warning: $LATCH_API_URL is plain http, so the API token crosses the network unencrypted; use https."
	fi

	LATCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/latch-orb.XXXXXX")
	trap 'rm -rf "$LATCH_TMP"' EXIT
	token=${token//\\/\\\\}
	token=${token//\"/\\\"}
	(
		umask 077
		printf 'header = "Authorization: Bearer %s"\n' "$token" >"$LATCH_TMP/auth"
	)
	LATCH_MAX_TIME=30
}

# latch_call METHOD PATH [BODY_FILE [HEADER...]]: one API call. It is tried
# again after a network error or a 5xx answer (5 tries, waiting 1, 2, 4 and 8
# seconds between them) and after a 429 as its Retry-After says. Sets
# LATCH_STATUS to the HTTP status; the answer's body is in $LATCH_TMP/body
# and its headers in $LATCH_TMP/headers. Exits when Latch cannot be reached.
latch_call() {
	local method=$1 path=$2 body=${3:-}
	shift $(($# < 3 ? $# : 3))
	local args=(--silent --show-error --request "$method" --config "$LATCH_TMP/auth"
		--header "Accept: application/json" --header "User-Agent: latch-circleci-orb"
		--output "$LATCH_TMP/body" --dump-header "$LATCH_TMP/headers" --write-out '%{http_code}'
		--connect-timeout 10 --max-time "$LATCH_MAX_TIME")
	if [[ -n $body ]]; then
		args+=(--header "Content-Type: application/json" --data-binary "@$body")
	fi
	local h
	for h in "$@"; do
		args+=(--header "$h")
	done
	local try=1 tries=5 limited=0 rc wait
	while :; do
		: >"$LATCH_TMP/body"
		: >"$LATCH_TMP/headers"
		rc=0
		LATCH_STATUS=$(curl "${args[@]}" "$LATCH_API_URL$path" 2>"$LATCH_TMP/curl-error") || rc=$?
		if ((rc != 0)); then
			((try < tries)) || latch_die 1 "Could not reach Latch at $LATCH_API_URL after $tries tries: $(<"$LATCH_TMP/curl-error")"
			wait=$((2 ** (try - 1)))
			latch_say "Could not reach $LATCH_API_URL ($(<"$LATCH_TMP/curl-error")); trying again in ${wait}s (try $try of $tries)."
			sleep "$wait"
			try=$((try + 1))
			continue
		fi
		case $LATCH_STATUS in
		429)
			limited=$((limited + 1))
			((limited <= 30)) || latch_die 1 "Latch answered 429 to 30 calls in a row: too many calls with this token. $(latch_error_text)"
			wait=$(latch_header Retry-After)
			[[ $wait =~ ^[0-9]+$ ]] || wait=1
			latch_say "Too many calls with this token (429); trying again in ${wait}s, as Retry-After asks."
			sleep "$wait"
			continue
			;;
		500 | 502 | 503 | 504)
			if ((try < tries)); then
				wait=$((2 ** (try - 1)))
				latch_say "Latch answered: $(latch_error_text); trying again in ${wait}s (try $try of $tries)."
				sleep "$wait"
				try=$((try + 1))
				continue
			fi
			;;
		esac
		return 0
	done
}

# latch_header NAME: prints the value of header NAME in the last answer.
latch_header() {
	local line want=${1,,}
	while IFS= read -r line || [[ -n $line ]]; do
		line=${line%$'\r'}
		if [[ ${line,,} == "$want:"* ]]; then
			line=${line#*:}
			line=${line#"${line%%[![:space:]]*}"}
			printf '%s' "$line"
			return 0
		fi
	done <"$LATCH_TMP/headers"
}

# latch_error_text: the last answer's error as a line a person can act on:
# the API's message, status and code, then any details one per line.
latch_error_text() {
	local text
	if text=$(jq -r --arg s "$LATCH_STATUS" '
		select((.error | type) == "object")
		| (.error.message // "") as $m
		| "\($m) (HTTP \($s), \(.error.code))"
		  + (.error.details // {} | to_entries
		     | map("\(.key): \(.value | if type == "string" then . else tojson end)")
		     | map(select(. as $d | $m | contains($d) | not) | "\n  " + .) | join(""))' \
		"$LATCH_TMP/body" 2>/dev/null) && [[ -n $text ]]; then
		printf '%s' "$text"
		return
	fi
	text=$(<"$LATCH_TMP/body")
	printf 'HTTP %s from %s, without a Latch error body: %s' "$LATCH_STATUS" "$LATCH_API_URL" "${text:0:300}"
}

# latch_field JQ_PATH: prints a value from the last answer's body ("" for null).
latch_field() {
	jq -r "$1 // \"\"" "$LATCH_TMP/body"
}

# latch_describe: the request in the last answer, in words: "was denied by
# alice@example.com: not during the freeze".
latch_describe() {
	jq -r '
def who: (.by.email // "someone") + (if (.by.bot // "") != "" then " (through bot \(.by.bot))" else "" end);
def why: if (.reason // "") != "" then ": \(.reason)" else " (no reason given)" end;
(.failure // {}) as $f
| if .status == "approved" then
    "was approved by " + ([.approvals // [] | .[] | who + (if (.reason // "") != "" then " (\(.reason))" else "" end)] | join(", "))
  elif .status == "active" then
    "is active: \(.requester.email) has the access"
    + (if (.target_id // "") != "" then " to \(.target_id)" else "" end)
    + (if .ends_at then " until \(.ends_at)" else "" end)
  elif .status == "denied" then "was denied by \(.decision | who)\(.decision | why)"
  elif .status == "cancelled" then "was cancelled by \(.decision | who)\(.decision | why)"
  elif .status == "expired" then
    "expired: no approver decided in time" + (if .expires_at then " (the deadline was \(.expires_at))" else "" end)
  elif .status == "failed" then
    "failed while " + (if $f.stage == "deescalate" then "taking the access away" else "granting the access" end)
    + ": \($f.message // "no message") (\($f.code // "no code"))"
  elif .status == "deescalating" or .status == "ended" then
    "has already ended: the access was granted and is "
    + (if .status == "ended" then "gone" else "being taken away" end)
    + (if .decision then " (revoked by \(.decision | who)\(.decision | why))" else "" end)
  elif .status == "pending" then "is pending: waiting for an approver"
  elif .status == "escalating" then "is approved; Latch is granting the access"
  else "is \(.status)"
  end' "$LATCH_TMP/body"
}

# latch_request_id: prints the request the step is about: the request_id
# parameter, else the one in the request step's id file, else
# LATCH_REQUEST_ID (which the request step exports through BASH_ENV).
# Prints nothing when none is known.
latch_request_id() {
	local id file
	id=$(latch_expand "${LATCH_PARAM_REQUEST_ID:-}")
	if [[ -z $id ]]; then
		file=$(latch_expand "${LATCH_PARAM_REQUEST_ID_FILE:-}")
		if [[ -n $file && -s $file ]]; then
			id=$(<"$file")
		fi
	fi
	if [[ -z $id ]]; then
		id=${LATCH_REQUEST_ID:-}
	fi
	id=${id//[[:space:]]/}
	[[ -z $id || $id =~ ^[A-Za-z0-9_-]+$ ]] || latch_die 2 "\"$id\" is not a Latch request id (such as req_01...)."
	printf '%s' "$id"
}

# latch_read ID: reads request ID into the last answer, exiting on an error.
latch_read() {
	latch_call GET "/v1/requests/$1"
	[[ $LATCH_STATUS == 200 ]] || latch_die 1 "Could not read request $1: $(latch_error_text)"
}
