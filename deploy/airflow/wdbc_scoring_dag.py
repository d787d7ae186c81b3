"""Airflow DAG that scores each day's shards with the wdbc-score Flex Template.

For each daily run it launches the template on the shards under
``INPUT_ROOT/dt={{ ds }}/``, writes to ``OUTPUT_PREFIX/dt={{ ds }}/``, waits
for the Dataflow job, and then requires the ``_SUCCESS`` file. The pipeline
withholds it when a feature's PSI is above ``max_psi`` or more than
``max_rejected_share`` of the rows read were rejected. A retry or a
rerun of the same day replaces that partition's outputs.

Settings are Airflow Variables, read when a task renders its templates:
``wdbc_project``, ``wdbc_region``, ``wdbc_template_spec``, ``wdbc_image``,
``wdbc_input_root``, ``wdbc_model_dir``, ``wdbc_output_bucket``,
``wdbc_output_prefix`` and ``wdbc_temp_location`` (the same settings as
deploy/scheduler/create_schedule.sh).

Needs Airflow 2.4 or later (the ``schedule`` argument) and a release of
apache-airflow-providers-google from mid-2023 or later, whose
DataflowStartFlexTemplateOperator takes ``append_job_name``. Airflow is not a
dependency of this project: tests/test_deploy_schedules.py only parses this
file.
"""

import pendulum
from airflow import DAG
from airflow.providers.google.cloud.operators.dataflow import (
    DataflowStartFlexTemplateOperator,
)
from airflow.providers.google.cloud.sensors.gcs import GCSObjectExistenceSensor

# The flexTemplates.launch request body, written as literals so that the test
# can read it without Airflow. Airflow renders its Jinja templates when the
# task runs. The operator then appends "-" and 8 characters of a random UUID
# to jobName, so every try gets its own Dataflow job name.
LAUNCH_BODY = {
    "launchParameter": {
        "jobName": "wdbc-score-{{ ds_nodash }}",
        "containerSpecGcsPath": "{{ var.value.wdbc_template_spec }}",
        "parameters": {
            "input": "{{ var.value.wdbc_input_root }}/dt={{ ds }}/*",
            "model_dir": "{{ var.value.wdbc_model_dir }}",
            "output_dir": (
                "gs://{{ var.value.wdbc_output_bucket }}/"
                "{{ var.value.wdbc_output_prefix }}/dt={{ ds }}"
            ),
            "max_psi": "0.25",
            "max_rejected_share": "0.05",
            "sdk_container_image": "{{ var.value.wdbc_image }}",
        },
        "environment": {
            "tempLocation": "{{ var.value.wdbc_temp_location }}",
        },
    }
}

with DAG(
    dag_id="wdbc_score_daily",
    description="Score the day's WDBC shards with the wdbc-score Flex Template",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 1, "retry_delay": pendulum.duration(minutes=10)},
    tags=["wdbc", "dataflow"],
) as dag:
    score_shards = DataflowStartFlexTemplateOperator(
        task_id="score_shards",
        project_id="{{ var.value.wdbc_project }}",
        location="{{ var.value.wdbc_region }}",
        body=LAUNCH_BODY,
        append_job_name=True,
        wait_until_finished=True,
    )
    # The job has finished when this starts, so a missing file will not
    # appear later. A short timeout fails the run soon.
    check_success_file = GCSObjectExistenceSensor(
        task_id="check_success_file",
        bucket="{{ var.value.wdbc_output_bucket }}",
        object="{{ var.value.wdbc_output_prefix }}/dt={{ ds }}/_SUCCESS",
        poke_interval=30,
        timeout=120,
        retries=0,
    )
    score_shards >> check_success_file
