#!/usr/bin/env bash
# The work of the GitHub Action (action.yml), runnable anywhere:
#   1. `groupcost check` as workflow commands (annotations on the budget lines),
#   2. the same as Markdown, then `groupcost diff --git BASE` for every spec, into one comment,
#   3. that comment appended to the job summary.
# Environment: GROUPCOST_SPECS (files or globs, space-separated; required), GROUPCOST_BASE (a git
# revision to diff against; empty skips the diffs), GROUPCOST_FAIL_ON_INCREASE (rules for diff),
# GROUPCOST_CHECK_ARGS (extra flags for check), GROUPCOST_COMMENT (where to write the comment).
# Exit: 2 on bad input, else 1 when a budget is over or a rule fires, else 0.
set -uo pipefail
shopt -s nullglob globstar

: "${GROUPCOST_SPECS:?set GROUPCOST_SPECS to the spec files or globs}"
comment="${GROUPCOST_COMMENT:-${RUNNER_TEMP:-/tmp}/groupcost-comment.md}"
read -r -a patterns <<< "$GROUPCOST_SPECS"
read -r -a check_args <<< "${GROUPCOST_CHECK_ARGS:-}"

groupcost check "${patterns[@]}" "${check_args[@]}" --format github
status=$?
groupcost check "${patterns[@]}" "${check_args[@]}" --format markdown > "$comment" 2>/dev/null
if [ "$status" -eq 2 ]; then
  exit 2
fi

if [ -n "${GROUPCOST_BASE:-}" ]; then
  rules=()
  if [ -n "${GROUPCOST_FAIL_ON_INCREASE:-}" ]; then
    rules=(--fail-on-increase "$GROUPCOST_FAIL_ON_INCREASE")
  fi
  for pattern in "${patterns[@]}"; do
    for spec in $pattern; do
      echo >> "$comment"
      # a spec that is new since the base shows every layer as added
      groupcost diff --git "$GROUPCOST_BASE" "$spec" "${rules[@]}" --format markdown >> "$comment"
      diff_status=$?
      if [ "$diff_status" -eq 2 ]; then
        exit 2
      fi
      if [ "$diff_status" -gt "$status" ]; then
        status=$diff_status
      fi
    done
  done
fi

if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
  cat "$comment" >> "$GITHUB_STEP_SUMMARY"
fi
exit "$status"
