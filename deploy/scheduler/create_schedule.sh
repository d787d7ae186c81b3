#!/usr/bin/env bash
# Deploy workflow.yaml and a Cloud Scheduler job that starts it every day.
#
# Set these before running it (see "Running in Google Cloud" in README.md):
#   PROJECT, REGION            project and region of the workflow and the jobs
#   TEMPLATE_SPEC              gs:// path of the built Flex Template spec file
#   IMAGE                      the Flex Template image, also the worker image
#   INPUT_ROOT                 gs:// folder holding dt=YYYY-MM-DD/ input folders
#   MODEL_DIR                  gs:// export folder written by wdbc-train
#   OUTPUT_BUCKET              bucket name (no gs://) for the scored output
#   OUTPUT_PREFIX              folder in OUTPUT_BUCKET that gets dt=YYYY-MM-DD/
#   TEMP_LOCATION              gs:// folder for Dataflow's temporary files
#   WORKFLOW_SERVICE_ACCOUNT   runs the workflow: Dataflow Developer, Service
#                              Account User on the workers' account, and
#                              Storage Object Viewer on OUTPUT_BUCKET
#   SCHEDULER_SERVICE_ACCOUNT  calls the workflow: Workflows Invoker
# SCHEDULE defaults to 03:00 UTC daily, in cron syntax.
set -euo pipefail

: "${PROJECT:?}" "${REGION:?}" "${TEMPLATE_SPEC:?}" "${IMAGE:?}" "${INPUT_ROOT:?}"
: "${MODEL_DIR:?}" "${OUTPUT_BUCKET:?}" "${OUTPUT_PREFIX:?}" "${TEMP_LOCATION:?}"
: "${WORKFLOW_SERVICE_ACCOUNT:?}" "${SCHEDULER_SERVICE_ACCOUNT:?}"
SCHEDULE="${SCHEDULE:-0 3 * * *}"
WORKFLOW=wdbc-score-daily
HERE="$(cd "$(dirname "$0")" && pwd)"

gcloud workflows deploy "$WORKFLOW" \
    --project "$PROJECT" \
    --location "$REGION" \
    --source "$HERE/workflow.yaml" \
    --service-account "$WORKFLOW_SERVICE_ACCOUNT" \
    --set-env-vars "WDBC_TEMPLATE_SPEC=$TEMPLATE_SPEC,WDBC_IMAGE=$IMAGE,WDBC_INPUT_ROOT=$INPUT_ROOT,WDBC_MODEL_DIR=$MODEL_DIR,WDBC_OUTPUT_BUCKET=$OUTPUT_BUCKET,WDBC_OUTPUT_PREFIX=$OUTPUT_PREFIX,WDBC_TEMP_LOCATION=$TEMP_LOCATION"

# The body is a fixed, empty argument map because the workflow computes the
# date itself.
gcloud scheduler jobs create http "$WORKFLOW" \
    --project "$PROJECT" \
    --location "$REGION" \
    --schedule "$SCHEDULE" \
    --time-zone "Etc/UTC" \
    --uri "https://workflowexecutions.googleapis.com/v1/projects/$PROJECT/locations/$REGION/workflows/$WORKFLOW/executions" \
    --http-method POST \
    --message-body '{"argument": "{}"}' \
    --oauth-service-account-email "$SCHEDULER_SERVICE_ACCOUNT"
