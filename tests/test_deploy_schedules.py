"""Tests of the daily schedules in deploy/scheduler/ and deploy/airflow/.

Neither Cloud Workflows nor Airflow runs here. The workflow's assignments are
evaluated in Python with stand-ins for the few Workflows standard-library
functions they call (text.substring, text.replace_all, text.match_regex,
time.format, sys.now, sys.get_env, map.get, default), written from their
documented behaviour. The DAG is read with ``ast``, since Airflow is not a
dependency, and its Jinja templates are filled in with regular expressions.
"""

import ast
import datetime
import re
import subprocess

import pytest
import yaml
from apache_beam.options.pipeline_options import PipelineOptions, WorkerOptions

from pipeline import options
from tests.conftest import REPO_ROOT

SCHEDULER_DIR = REPO_ROOT / "deploy" / "scheduler"
DAG_PATH = REPO_ROOT / "deploy" / "airflow" / "wdbc_scoring_dag.py"
FLAGS_BY_NAME = {flag.name: flag for flag in options.FLAGS}
REQUIRED_FLAGS = {flag.name for flag in options.FLAGS if flag.required}
# Beam pipeline options that the launch bodies pass next to the job's flags.
BEAM_PARAMETERS = {"sdk_container_image"}
# Dataflow job names: a lower-case letter, then lower-case letters, digits
# and hyphens, not ending in a hyphen.
JOB_NAME_PATTERN = r"[a-z]([-a-z0-9]*[a-z0-9])?"
WORKFLOW_ENV = {
    "GOOGLE_CLOUD_PROJECT_ID": "wdbc-test",
    "GOOGLE_CLOUD_LOCATION": "us-central1",
    "GOOGLE_CLOUD_WORKFLOW_EXECUTION_ID": "3f2a9c41-8d0e-4b7a-9f61-2c5d7e8a9b10",
    "WDBC_TEMPLATE_SPEC": "gs://wdbc-templates/wdbc-score.json",
    "WDBC_IMAGE": "us-central1-docker.pkg.dev/wdbc-test/wdbc/wdbc-scoring:1",
    "WDBC_INPUT_ROOT": "gs://wdbc-in/shards",
    "WDBC_MODEL_DIR": "gs://wdbc-models/model",
    "WDBC_OUTPUT_BUCKET": "wdbc-out",
    "WDBC_OUTPUT_PREFIX": "scored",
    "WDBC_TEMP_LOCATION": "gs://wdbc-temp/dataflow",
}


class WorkflowsStdlib:
    """Python stand-ins for the Workflows functions the workflow calls."""

    def __init__(self, now: datetime.datetime, env: dict):
        self._now = now
        self._env = env
        self.text = self
        self.time = self
        self.sys = self
        self.map = self

    # text
    def substring(self, source, start, end):
        return source[start:end]

    def replace_all(self, source, substring, replacement):
        return source.replace(substring, replacement)

    def match_regex(self, source, regex):
        return re.search(regex, source) is not None

    # time
    def format(self, seconds, timezone="UTC"):
        assert timezone == "UTC"
        moment = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    # sys
    def now(self):
        return self._now.timestamp()

    def get_env(self, name):
        return self._env[name]

    # map
    def get(self, mapping, key):
        return None if mapping is None else mapping.get(key)


def evaluate(expression: str, variables: dict, stdlib: WorkflowsStdlib):
    """Evaluate one ``${...}`` Workflows expression; return literals unchanged."""
    if not (isinstance(expression, str) and expression.startswith("${")):
        return expression
    namespace = {
        "text": stdlib,
        "time": stdlib,
        "sys": stdlib,
        "map": stdlib,
        "default": lambda value, fallback: fallback if value is None else value,
        **variables,
    }
    return eval(expression[2:-1], {"__builtins__": {}}, namespace)


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load((SCHEDULER_DIR / "workflow.yaml").read_text())


def steps_by_name(workflow: dict) -> dict:
    steps = {}
    for step in workflow["main"]["steps"]:
        ((name, body),) = step.items()
        steps[name] = body
    return steps


def run_assignments(workflow: dict, args, now: datetime.datetime) -> dict:
    """Run the workflow's steps up to the launch; return its variables."""
    stdlib = WorkflowsStdlib(now, WORKFLOW_ENV)
    steps = steps_by_name(workflow)
    variables = {"args": args}
    for assignment in steps["init"]["assign"]:
        ((name, expression),) = assignment.items()
        variables[name] = evaluate(expression, variables, stdlib)
    (condition,) = steps["check_date"]["switch"]
    variables["date_is_valid"] = evaluate(condition["condition"], variables, stdlib)
    for assignment in steps["name_job"]["assign"]:
        ((name, expression),) = assignment.items()
        variables[name] = evaluate(expression, variables, stdlib)
    launch = steps["launch"]["args"]["body"]["launchParameter"]
    variables["launch"] = {
        "jobName": evaluate(launch["jobName"], variables, stdlib),
        "parameters": {
            key: evaluate(value, variables, stdlib)
            for key, value in launch["parameters"].items()
        },
    }
    return variables


def check_parameters(parameters: dict) -> None:
    """Assert that launch parameters are job flags or Beam options with valid values."""
    assert REQUIRED_FLAGS <= set(parameters)
    argv = []
    for name, value in parameters.items():
        assert name in FLAGS_BY_NAME or name in BEAM_PARAMETERS, name
        if name in FLAGS_BY_NAME:
            assert re.fullmatch(FLAGS_BY_NAME[name].regex, value), (name, value)
        argv.append(f"--{name}={value}")

    config, beam_args = options.parse_args(argv)
    worker = PipelineOptions(beam_args).view_as(WorkerOptions)

    assert worker.sdk_container_image == parameters["sdk_container_image"]
    assert config.output_dir == parameters["output_dir"]


def test_workflow_scores_previous_day(workflow):
    now = datetime.datetime(2026, 3, 1, 3, 0, tzinfo=datetime.timezone.utc)

    variables = run_assignments(workflow, {}, now)

    assert variables["dt"] == "2026-02-28"
    assert variables["date_is_valid"] is True
    assert variables["output_dir"] == "gs://wdbc-out/scored/dt=2026-02-28"
    parameters = variables["launch"]["parameters"]
    assert parameters["output_dir"] == "gs://wdbc-out/scored/dt=2026-02-28"
    assert parameters["input"] == "gs://wdbc-in/shards/dt=2026-02-28/*"
    check_parameters(parameters)


def test_workflow_takes_dt_argument(workflow):
    now = datetime.datetime(2026, 3, 1, 3, 0, tzinfo=datetime.timezone.utc)

    variables = run_assignments(workflow, {"dt": "2026-01-31"}, now)

    assert variables["dt"] == "2026-01-31"
    assert variables["launch"]["parameters"]["output_dir"].endswith("/dt=2026-01-31")


@pytest.mark.parametrize("dt", ["2026-1-31", "20260131", "yesterday"])
def test_workflow_rejects_bad_dt(workflow, dt):
    now = datetime.datetime(2026, 3, 1, 3, 0, tzinfo=datetime.timezone.utc)

    variables = run_assignments(workflow, {"dt": dt}, now)

    assert variables["date_is_valid"] is False
    assert steps_by_name(workflow)["check_date"]["next"] == "invalid_date"


def test_workflow_job_name_unique(workflow):
    now = datetime.datetime(2026, 3, 1, 3, 0, tzinfo=datetime.timezone.utc)

    variables = run_assignments(workflow, {}, now)

    job_name = variables["launch"]["jobName"]
    assert job_name == "wdbc-score-20260228-3f2a9c41"
    assert re.fullmatch(JOB_NAME_PATTERN, job_name)


def test_workflow_calls_dataflow(workflow):
    steps = steps_by_name(workflow)

    assert steps["launch"]["call"] == (
        "googleapis.dataflow.v1b3.projects.locations.flexTemplates.launch"
    )
    assert steps["get_job"]["call"] == (
        "googleapis.dataflow.v1b3.projects.locations.jobs.get"
    )
    assert steps["wait"]["next"] == "get_job"
    assert steps["check_success_file"]["try"]["call"] == (
        "googleapis.storage.v1.objects.get"
    )
    assert "_SUCCESS" in steps["check_success_file"]["try"]["args"]["object"]


def test_workflow_jumps_to_existing_steps(workflow):
    steps = steps_by_name(workflow)
    targets = []
    for body in steps.values():
        if "next" in body:
            targets.append(body["next"])
        for condition in body.get("switch", []):
            if "next" in condition:
                targets.append(condition["next"])

    assert targets
    for target in targets:
        assert target in steps, target


def test_schedule_script_sets_workflow_env(workflow):
    script = (SCHEDULER_DIR / "create_schedule.sh").read_text()
    used = set(re.findall(r'sys\.get_env\("(WDBC_[A-Z_]+)"\)', str(workflow)))
    set_env = re.search(r'--set-env-vars "([^"]+)"', script).group(1)
    defined = {pair.split("=", 1)[0] for pair in set_env.split(",")}

    assert used
    assert used == defined


def test_schedule_script_syntax():
    script = SCHEDULER_DIR / "create_schedule.sh"

    result = subprocess.run(["bash", "-n", str(script)], capture_output=True)

    assert result.returncode == 0, result.stderr.decode()


def test_schedule_script_targets_workflow():
    script = (SCHEDULER_DIR / "create_schedule.sh").read_text()
    workflow_name = re.search(r"^WORKFLOW=(\S+)$", script, re.M).group(1)
    schedule = re.search(r'^SCHEDULE="\$\{SCHEDULE:-([^}]+)\}"$', script, re.M)

    assert schedule, "no default SCHEDULE"
    assert len(schedule.group(1).split()) == 5
    assert '--source "$HERE/workflow.yaml"' in script
    assert f"/workflows/{workflow_name}/executions" in script.replace(
        "$WORKFLOW", workflow_name
    )


# Airflow DAG


@pytest.fixture(scope="module")
def dag_tree() -> ast.Module:
    return ast.parse(DAG_PATH.read_text(), filename=str(DAG_PATH))


def find_call(tree: ast.AST, name: str) -> ast.Call:
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == name
    ]
    assert len(calls) == 1, f"expected one call of {name}, found {len(calls)}"
    return calls[0]


def keywords(call: ast.Call) -> dict:
    return {keyword.arg: keyword.value for keyword in call.keywords}


def module_constant(tree: ast.Module, name: str):
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == name
            for target in node.targets
        ):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{name} is not assigned at module level")


def render(template: str) -> str:
    """Fill the DAG's Jinja templates for the run of 2026-02-28."""
    rendered = template.replace("{{ ds }}", "2026-02-28")
    rendered = rendered.replace("{{ ds_nodash }}", "20260228")
    variables = {
        "wdbc_output_bucket": "wdbc-out",
        "wdbc_output_prefix": "scored",
        "wdbc_input_root": "gs://wdbc-in/shards",
        "wdbc_model_dir": "gs://wdbc-models/model",
        "wdbc_image": "us-central1-docker.pkg.dev/wdbc-test/wdbc/wdbc-scoring:1",
    }
    rendered = re.sub(
        r"\{\{ var\.value\.(\w+) \}\}", lambda m: variables[m.group(1)], rendered
    )
    assert "{{" not in rendered, rendered
    return rendered


def test_dag_imports_flex_operator(dag_tree):
    imported = {
        (node.module, alias.name)
        for node in ast.walk(dag_tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }

    assert (
        "airflow.providers.google.cloud.operators.dataflow",
        "DataflowStartFlexTemplateOperator",
    ) in imported


def test_dag_runs_daily(dag_tree):
    dag = keywords(find_call(dag_tree, "DAG"))

    assert ast.literal_eval(dag["schedule"]) == "@daily"
    assert ast.literal_eval(dag["catchup"]) is False
    assert ast.literal_eval(dag["dag_id"]) == "wdbc_score_daily"


def test_dag_operator_waits_with_unique_name(dag_tree):
    operator = keywords(find_call(dag_tree, "DataflowStartFlexTemplateOperator"))

    assert isinstance(operator["body"], ast.Name)
    assert operator["body"].id == "LAUNCH_BODY"
    assert ast.literal_eval(operator["append_job_name"]) is True
    assert ast.literal_eval(operator["wait_until_finished"]) is True


def test_dag_job_name_templated(dag_tree):
    body = module_constant(dag_tree, "LAUNCH_BODY")["launchParameter"]

    assert "{{ ds_nodash }}" in body["jobName"]
    # The operator appends "-" and the first 8 characters of a UUID4.
    job_name = render(body["jobName"]) + "-1b9d6bcd"
    assert job_name == "wdbc-score-20260228-1b9d6bcd"
    assert re.fullmatch(JOB_NAME_PATTERN, job_name)


def test_dag_parameters_are_flags(dag_tree):
    parameters = module_constant(dag_tree, "LAUNCH_BODY")["launchParameter"][
        "parameters"
    ]

    assert "dt={{ ds }}" in parameters["output_dir"]
    rendered = {name: render(value) for name, value in parameters.items()}
    assert rendered["output_dir"] == "gs://wdbc-out/scored/dt=2026-02-28"
    assert rendered["input"] == "gs://wdbc-in/shards/dt=2026-02-28/*"
    check_parameters(rendered)


def test_dag_checks_success_file(dag_tree):
    parameters = module_constant(dag_tree, "LAUNCH_BODY")["launchParameter"][
        "parameters"
    ]
    sensor = keywords(find_call(dag_tree, "GCSObjectExistenceSensor"))
    bucket = render(ast.literal_eval(sensor["bucket"]))
    success_object = render(ast.literal_eval(sensor["object"]))

    assert f"gs://{bucket}/{success_object}" == (
        render(parameters["output_dir"]) + "/_SUCCESS"
    )
    dependencies = [
        node
        for node in ast.walk(dag_tree)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.RShift)
    ]
    assert len(dependencies) == 1
    assert dependencies[0].left.id == "score_shards"
    assert dependencies[0].right.id == "check_success_file"
