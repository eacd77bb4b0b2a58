#!/usr/bin/env bash
# The work of the GitHub Action (action.yml), runnable anywhere:
#   1. `groupcost check` as workflow commands (annotations on the budget lines),
#   2. the same as Markdown, then `groupcost diff --git BASE` for every spec, into one comment,
#   3. with GROUPCOST_REPORTS set, the HTML pages of every spec file into that folder: SLUG.head.html
#      (`groupcost report`), and with a base SLUG.base.html (`groupcost report` on the spec as it is at
#      the base) and SLUG.diff.html (`groupcost diff --format html`: both sides, the changes marked),
#      SLUG being the spec's path with / as __; the folder is the step output `reports`,
#   4. that comment appended to the job summary.
# Environment: GROUPCOST_SPECS (files or globs, space-separated; required), GROUPCOST_BASE (a git
# revision to diff against; empty skips the diffs), GROUPCOST_FAIL_ON_INCREASE (rules for diff),
# GROUPCOST_CHECK_ARGS (extra flags for check), GROUPCOST_COMMENT (where to write the comment),
# GROUPCOST_REPORTS (a folder for the HTML reports; empty writes none), GROUPCOST_REPORTS_NAME (what
# the comment calls the workflow artifact holding them; default groupcost-reports).
# A report that cannot be written is a warning, never a failure: the comment and the exit code are the check's and the diffs'.
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

if [ -n "${GROUPCOST_REPORTS:-}" ]; then
  mkdir -p "$GROUPCOST_REPORTS/.base" || exit 2
  made=0
  for pattern in "${patterns[@]}"; do
    for spec in $pattern; do
      [ -f "$spec" ] || continue
      slug="${spec#./}"
      slug="${slug//\//__}"
      slug="${slug%.*}"
      if groupcost report "$spec" -o "$GROUPCOST_REPORTS/$slug.head.html" --force 2>/dev/null; then
        made=$((made + 1))
      else
        echo "::warning::groupcost: no HTML report of $spec"
      fi
      if [ -n "${GROUPCOST_BASE:-}" ]; then
        top=$(git rev-parse --show-toplevel 2>/dev/null) && path=$(realpath --relative-to="$top" "$spec") || continue
        if git cat-file -e "$GROUPCOST_BASE:$path" 2>/dev/null; then  # a spec new since the base has no base report
          mkdir -p "$GROUPCOST_REPORTS/.base/$(dirname "$path")"
          git show "$GROUPCOST_BASE:$path" > "$GROUPCOST_REPORTS/.base/$path"
          groupcost report "$GROUPCOST_REPORTS/.base/$path" -o "$GROUPCOST_REPORTS/$slug.base.html" --force 2>/dev/null \
            || echo "::warning::groupcost: no HTML report of $spec at $GROUPCOST_BASE"
        fi
        groupcost diff --git "$GROUPCOST_BASE" "$spec" --format html -o "$GROUPCOST_REPORTS/$slug.diff.html" --force 2>/dev/null \
          || echo "::warning::groupcost: no HTML diff of $spec"
      fi
    done
  done
  rm -rf "$GROUPCOST_REPORTS/.base"
  if [ -n "${GITHUB_OUTPUT:-}" ]; then
    echo "reports=$GROUPCOST_REPORTS" >> "$GITHUB_OUTPUT"
  fi
  if [ "$made" -gt 0 ]; then
    where="the \`${GROUPCOST_REPORTS_NAME:-groupcost-reports}\` artifact"
    if [ -n "${GITHUB_RUN_ID:-}" ]; then
      where="$where of [this run](${GITHUB_SERVER_URL:-https://github.com}/${GITHUB_REPOSITORY:-}/actions/runs/$GITHUB_RUN_ID)"
    fi
    printf '\nHTML reports (the architecture graph of each side, the changed layers marked): %s.\n' "$where" >> "$comment"
  fi
fi

if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
  cat "$comment" >> "$GITHUB_STEP_SUMMARY"
fi
exit "$status"
